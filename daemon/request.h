/* SPDX-License-Identifier: MIT */
/*
 * request.h - one decoded wire operation turned into the validator's
 * form (struct op_request).  Parsing only: nothing is checked here and
 * nothing is acted on; counts are kept as sent so that the validator can
 * refuse too many rather than see them cut.  Shared by the session and
 * the fuzz harness, so that what is fuzzed is what runs.
 *
 * Must never keep a pointer past the decoded message's life, except
 * req->addr, which the caller copies before the message is freed.
 */
#ifndef SAFERRINGD_REQUEST_H
#define SAFERRINGD_REQUEST_H

#include "saferring.pb-c.h"
#include "validator.h"

void request_from_wire(const Saferring__Op *op, struct op_request *req);

#endif
