#!/bin/bash
# SPDX-License-Identifier: MIT
# start.sh - start the twiliofs test account: a real nginx (TLS, Range,
# x-amz-meta-* headers, secure_link expiring URLs) and the Twilio REST API
# mock (mock.py), both on 127.0.0.1 only, on ports free at start. See
# README.md here.
#
# Usage: start.sh DIR [--bulk N] [--latency MS]
# --latency MS: the mock answers every API request MS milliseconds late (a
# network's round trip; its /__control endpoints stay prompt). Default 0.
# Writes DIR/env.sh (0600, sourceable). Media and ciphertexts are built once
# into a cache ($TFS_ENV_CACHE, default build/env-cache) by build.py.
# Starting on a DIR whose environment runs stops that one first (stop.sh).
# On failure nothing it started is left running. Exits 77 when nginx (with
# secure_link), ffmpeg, openssl or python3-cryptography is missing, 1 on
# other failures.
set -u
set -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
PY=/usr/bin/python3
t0=$(date +%s.%N)

note() { echo "tfs-env: $*" >&2; }
fail() { note "start failed: $*"; exit 1; }
missing() { note "SKIP: missing dependency: $*"; exit 77; }
usage() { echo "usage: $0 DIR [--bulk N] [--latency MS]" >&2; exit 1; }

dir= bulk=0 latency=0
while [ $# -gt 0 ]; do
	case $1 in
	--bulk) [ $# -ge 2 ] || usage; bulk=$2; shift 2 ;;
	--bulk=*) bulk=${1#--bulk=}; shift ;;
	--latency) [ $# -ge 2 ] || usage; latency=$2; shift 2 ;;
	--latency=*) latency=${1#--latency=}; shift ;;
	-*) usage ;;
	*) [ -z "$dir" ] || usage; dir=$1; shift ;;
	esac
done
[ -n "$dir" ] || usage
case $bulk in '' | *[!0-9]*) usage ;; esac
# whole milliseconds, up to a minute (the mock's bound)
case $latency in '' | *[!0-9]*) usage ;; esac
[ "${#latency}" -le 5 ] || usage
latency=$((10#$latency))	# 007 is 7 (and not octal)
[ "$latency" -le 60000 ] || usage

# ---- dependencies ----------------------------------------------------------
NGINX=$(command -v nginx 2>/dev/null || true)
[ -n "$NGINX" ] || { [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx; }
[ -n "$NGINX" ] || missing "nginx (Debian package nginx)"
nginx_v=$("$NGINX" -V 2>&1)
case $nginx_v in *--with-http_secure_link_module*) ;; *)
	missing "nginx without the secure_link module ($NGINX; Debian's nginx has it)" ;;
esac
case $nginx_v in *--with-http_ssl_module*) ;; *)
	missing "nginx without the ssl module ($NGINX)" ;;
esac
command -v ffmpeg >/dev/null 2>&1 || missing "ffmpeg (Debian package ffmpeg)"
command -v ffprobe >/dev/null 2>&1 || missing "ffprobe (Debian package ffmpeg)"
command -v openssl >/dev/null 2>&1 || missing "openssl (Debian package openssl)"
[ -x "$PY" ] || missing "$PY (Debian package python3)"
"$PY" -c 'import cryptography' 2>/dev/null ||
	missing "python3 cryptography (Debian package python3-cryptography)"

umask 077
mkdir -p "$dir" || fail "cannot create $dir"
dir=$(cd "$dir" && pwd) || fail "cannot enter $dir"
case $dir in *[[:space:]\"\'\\\;\{\}\$]*)
	fail "DIR must not contain spaces, quotes, \\ ; { } or \$: $dir" ;;
esac

# An environment already running in DIR is stopped first.
if [ -e "$dir/run/nginx.pid" ] || [ -e "$dir/run/mock.pid" ]; then
	note "stopping the environment already in $dir"
	bash "$here/stop.sh" "$dir" || fail "could not stop the old environment"
fi

# ---- fixtures (cached) -----------------------------------------------------
cache=${TFS_ENV_CACHE:-$top/build/env-cache}
mkdir -p "$cache" || fail "cannot create $cache"
cache=$(cd "$cache" && pwd)
case $cache in *[[:space:]\"\'\\\;\{\}\$]*)
	fail "the cache path must not contain spaces or quotes: $cache" ;;
esac
"$PY" "$here/build.py" "$cache"
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || fail "building the fixtures failed (build.py exit $rc)"
fix=$cache/fixtures

# ---- from here on, anything started is stopped again on failure -----------
ok=0
cleanup() {
	if [ "$ok" != 1 ]; then
		note "cleaning up after the failed start"
		bash "$here/stop.sh" "$dir" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

rm -rf "$dir/tls" "$dir/keys" "$dir/nginx" "$dir/mock" "$dir/run"
rm -f "$dir/env.sh" "$dir/manifest.json" "$dir/passphrase"
mkdir -p "$dir/tls" "$dir/nginx/tmp" "$dir/mock" "$dir/run" ||
	fail "cannot create directories in $dir"

# ---- TLS: a CA made now, certificates for 127.0.0.1 and localhost ---------
tls=$dir/tls
ossl() { openssl "$@" >>"$tls/openssl.log" 2>&1 || fail "openssl $1 failed (see $tls/openssl.log)"; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$tls/ca.key" -out "$tls/ca.pem" -days 7 \
	-subj "/O=twiliofs tests/CN=twiliofs test CA $(openssl rand -hex 4)" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign"
cat >"$tls/server.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EOF
for name in api media; do
	ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$tls/$name.key" -out "$tls/$name.csr" \
		-subj "/O=twiliofs tests/CN=127.0.0.1"
	ossl x509 -req -in "$tls/$name.csr" -CA "$tls/ca.pem" \
		-CAkey "$tls/ca.key" -set_serial "0x$(openssl rand -hex 12)" \
		-days 7 -extfile "$tls/server.ext" -out "$tls/$name.pem"
	rm -f "$tls/$name.csr"
done
chmod 600 "$tls"/*
chmod 644 "$tls/ca.pem"

# ---- the customer's keyring and passphrase ---------------------------------
mkdir -p "$dir/keys"
cp "$fix/keys/"* "$dir/keys/" || fail "cannot copy the keyring"
cp "$fix/passphrase" "$dir/passphrase" || fail "cannot copy the passphrase"
chmod 700 "$dir/keys"
chmod 600 "$dir/keys/"* "$dir/passphrase"

# ---- secrets of this run -----------------------------------------------------
account_sid=$(sed -n 's/.*"account_sid": "\(AC[0-9a-f]\{32\}\)".*/\1/p' \
	"$cache/items.json" | head -n 1)
[ -n "$account_sid" ] || fail "no account_sid in $cache/items.json"
api_key=SK$(openssl rand -hex 16)
api_secret=$(openssl rand -hex 16)
auth_token=$(openssl rand -hex 16)
link_secret=$(openssl rand -hex 16)

freeport() {
	"$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

alive() { # PID: running and not a zombie
	local st
	st=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- nginx -----------------------------------------------------------------
ng=$dir/nginx

# TFS_ENV_CAPPED="RATE REQS" (e.g. "20m 20"), opt-in for benchmarks: a media
# store modelled on S3 over the internet, where one stream is capped and
# every request costs time. Each response is sent at most at RATE bytes/s
# (nginx limit_rate; k and m suffixes) and the store admits REQS requests a
# second in all (limit_req); excess requests wait their turn (burst, no
# nodelay) instead of being refused, up to 1000 waiting (more get 503, as
# S3 answers SlowDown). The kernel here has no netem.
capped_http='' capped_server=''
if [ -n "${TFS_ENV_CAPPED:-}" ]; then
	read -r cap_rate cap_reqs cap_extra <<<"$TFS_ENV_CAPPED"
	[[ $cap_rate =~ ^[1-9][0-9]*[kKmM]?$ && $cap_reqs =~ ^[1-9][0-9]*$ &&
		-z $cap_extra ]] ||
		fail "TFS_ENV_CAPPED must be \"RATE REQS\" (e.g. \"20m 20\"), not \"$TFS_ENV_CAPPED\""
	# $server_name is the same for every request: one zone for the store
	capped_http="limit_req_zone \$server_name zone=tfs_capped:1m rate=${cap_reqs}r/s;"
	capped_server="limit_rate $cap_rate; limit_req zone=tfs_capped burst=1000;"
	note "capped media store: $cap_rate bytes/s per request, $cap_reqs requests/s"
fi

write_nginx_conf() { # PORT
	local user=
	[ "$(id -u)" -eq 0 ] && user="user $(id -un) $(id -gn);"
	cat >"$ng/nginx.conf" <<EOF
# generated by tests/env/start.sh
$user
worker_processes 1;
daemon off;
master_process on;
pid $ng/nginx.pid;
error_log $ng/error.log notice;
events { worker_connections 512; }
http {
    log_format tfs '\$remote_addr [\$time_iso8601] "\$request" \$status '
                   '\$body_bytes_sent "\$http_range" "\$http_authorization" '
                   'rt=\$request_time';
    access_log $ng/access.log tfs;
    client_body_temp_path $ng/tmp/body;
    proxy_temp_path $ng/tmp/proxy;
    fastcgi_temp_path $ng/tmp/fastcgi;
    uwsgi_temp_path $ng/tmp/uwsgi;
    scgi_temp_path $ng/tmp/scgi;
    server_tokens off;
    sendfile on;
    keepalive_timeout 65;
    types { }
    $capped_http
    server {
        listen 127.0.0.1:$1 ssl;
        server_name 127.0.0.1 localhost;
        ssl_certificate $tls/media.pem;
        ssl_certificate_key $tls/media.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $cache/objects;
        default_type application/xml;
        $capped_server

        # S3-style pre-signed URLs: ?Expires=EPOCH&Signature=MD5 (base64url)
        secure_link \$arg_Signature,\$arg_Expires;
        secure_link_md5 "\$secure_link_expires\$uri $link_secret";
        if (\$secure_link = "") {
            return 403 '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message></Error>';
        }
        if (\$secure_link = "0") {
            return 403 '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>';
        }
        location / {
            return 404 '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>';
        }
        include $cache/nginx-locations.conf;
    }
}
EOF
}

nginx_port=
for try in 1 2 3 4 5; do
	port=$(freeport) || fail "cannot find a free port"
	write_nginx_conf "$port"
	"$NGINX" -t -q -p "$ng" -c "$ng/nginx.conf" -e "$ng/error.log" \
		>>"$ng/stderr.log" 2>&1 ||
		fail "nginx rejects its configuration (see $ng/stderr.log, $ng/error.log)"
	"$NGINX" -p "$ng" -c "$ng/nginx.conf" -e "$ng/error.log" \
		</dev/null >>"$ng/stderr.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/run/nginx.pid"
	for _ in $(seq 100); do
		alive "$pid" || break
		listening "$port" && break
		sleep 0.05
	done
	if alive "$pid" && listening "$port"; then
		nginx_port=$port
		break
	fi
	if alive "$pid"; then
		fail "nginx (pid $pid) does not listen on 127.0.0.1:$port (see $ng/error.log)"
	fi
	rm -f "$dir/run/nginx.pid"
	grep -q 'Address already in use' "$ng/error.log" "$ng/stderr.log" 2>/dev/null ||
		fail "nginx exited at start (see $ng/error.log)"
	note "port $port was taken, trying another"
done
[ -n "$nginx_port" ] || fail "nginx found no free port"

[ "${TFS_ENV_FAIL_AFTER:-}" = nginx ] && fail "TFS_ENV_FAIL_AFTER=nginx (test hook)"

# ---- the API mock ------------------------------------------------------------
mk=$dir/mock
"$PY" - "$mk/config.json" <<EOF || fail "cannot write the mock's configuration"
import json, sys
cfg = {
    "cache": "$cache", "dir": "$dir",
    "cert": "$tls/api.pem", "key": "$tls/api.key",
    "nginx_port": $nginx_port, "secret": "$link_secret",
    "account_sid": "$account_sid", "api_key": "$api_key",
    "api_secret": "$api_secret", "auth_token": "$auth_token",
    "bulk": $bulk, "latency_ms": $latency, "port_file": "$mk/port",
    "manifest": "$dir/manifest.json", "keys_dir": "$dir/keys",
    "stranger_key": "$fix/stranger.pem",
}
with open(sys.argv[1], "w") as f:
    json.dump(cfg, f, indent=1)
EOF
chmod 600 "$mk/config.json"
"$PY" -u "$here/mock.py" "$mk/config.json" </dev/null >>"$mk/mock.log" 2>&1 &
pid=$!
echo "$pid" >"$dir/run/mock.pid"
api_port=
for _ in $(seq 200); do
	alive "$pid" || fail "the API mock exited at start (see $mk/mock.log)"
	if [ -s "$mk/port" ]; then
		api_port=$(cat "$mk/port")
		listening "$api_port" && break
	fi
	sleep 0.05
done
[ -n "$api_port" ] && listening "$api_port" ||
	fail "the API mock does not listen (see $mk/mock.log)"
[ "${TFS_ENV_FAIL_AFTER:-}" = mock ] && fail "TFS_ENV_FAIL_AFTER=mock (test hook)"

# ---- env.sh ------------------------------------------------------------------
endpoint=https://127.0.0.1:$api_port
{
	echo "# twiliofs test account; generated by tests/env/start.sh"
	printf 'export %s=%q\n' \
		TWILIO_ACCOUNT_SID "$account_sid" \
		TWILIO_API_KEY "$api_key" \
		TWILIO_API_SECRET "$api_secret" \
		TFS_AUTH_TOKEN "$auth_token" \
		TWILIOFS_ENDPOINT "$endpoint" \
		TWILIOFS_CAFILE "$tls/ca.pem" \
		TWILIOFS_KEYS "$dir/keys" \
		TWILIOFS_KEY_PASSPHRASE_FILE "$dir/passphrase" \
		TFS_CONTROL "$endpoint/__control" \
		TFS_MANIFEST "$dir/manifest.json" \
		TFS_NGINX_ACCESS_LOG "$ng/access.log" \
		TFS_MEDIA_BASE "https://127.0.0.1:$nginx_port" \
		TFS_STRANGER_KEY "$fix/stranger.pem" \
		TFS_ENV_CACHE "$cache" \
		TFS_ENV_DIR "$dir"
} >"$dir/env.sh.tmp" || fail "cannot write $dir/env.sh"
chmod 600 "$dir/env.sh.tmp"
mv "$dir/env.sh.tmp" "$dir/env.sh" || fail "cannot write $dir/env.sh"

ok=1
t1=$(date +%s.%N)
note "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "up in %.1f s", b - a }'):" \
	"API $endpoint, media https://127.0.0.1:$nginx_port; . $dir/env.sh"
exit 0
