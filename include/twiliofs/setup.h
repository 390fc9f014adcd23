/* SPDX-License-Identifier: MIT */
/*
 * setup.h - account setup with twiliofs alone: a key pair made here, its
 * public half registered as a Public Key resource (accounts v1
 * Credentials/PublicKeys) and its private half installed where the
 * keyring finds it; encryption of Video recordings and compositions
 * (video v1 RecordingSettings/CompositionSettings Default) and of
 * Conversational Intelligence services (intelligence v2 Services) read
 * and set through the REST API. Voice's setting lives in the Console
 * only: setup says where. Messages on stderr, results on stdout.
 */
#ifndef TWILIOFS_SETUP_H
#define TWILIOFS_SETUP_H

#include "twiliofs/cli.h"
#include "twiliofs/keyring.h"
#include "twiliofs/twilio.h"

/* keys generate: no account, no network. An exit status (cli.h). */
int setup_generate(const struct cli_setup *su);

/*
 * keys register|list|remove and encryption status|enable|disable against
 * the account t; kr (NULL when no -k was given) says which Public Keys
 * have a private key here. An exit status (cli.h).
 */
int setup_run(const struct cli *cli, struct twilio *t,
	const struct keyring *kr);

#endif
