// An SMSC for the tests of the smpp gateway: node-smpp's server, not our code, on 127.0.0.1.
//
//   node smsc.js SYSTEM_ID PASSWORD [KEY_FILE CERT_FILE]
//
// With KEY_FILE and CERT_FILE (PEM) it takes SMPP over TLS only.
//
// Listens for SMPP on a free port and for control requests (HTTP, JSON) on another, then
// prints one line: {"smpp": PORT, "control": PORT}. It exits when stdin closes, so it never
// outlives the test process that started it.
//
// It binds transceivers with SYSTEM_ID and PASSWORD (a wrong password: ESME_RINVPASWD, an
// unknown system_id: ESME_RINVSYSID) and answers each submit_sm with a fresh message id,
// unless told otherwise. Control (POST bodies are JSON objects):
//   GET  /submits   every submit_sm as node-smpp decoded it (TON/NPI, data_coding, the
//                   short_message's bytes in hex, the text node-smpp reads from them, and
//                   what was answered)
//   GET  /binds     every bind: command, system_id, system_type and whether it was accepted
//   GET  /state     {"sessions": bound sessions now, "enquire_links": received so far,
//                    "receipt_answers": command_status of each deliver_sm_resp received}
//   POST /behave    {"throttle": N}       answer ESME_RTHROTTLED to the next N submit_sm
//                   {"queue_full": N}     answer ESME_RMSGQFUL to the next N submit_sm
//                   {"refuse": "ESME_RSUBMITFAIL"|null}  refuse every submit_sm with it
//                   {"delay_ms": N}       answer each submit_sm N ms late (-1: never)
//                   {"receipt": "DELIVRD"|"UNDELIV"|null, "receipt_first": bool,
//                    "tlvs": bool}        send a receipt for each accepted submit_sm, after
//                                         its submit_sm_resp or, with receipt_first, before
//   POST /receipt   {"message_id": ID, "stat": "DELIVRD"|"UNDELIV", "tlvs": bool,
//                    "text_id": ID, "text_stat": STAT}: send one receipt now on the latest
//                   bound session (its text naming text_id and text_stat when given)
//   POST /drop      close every session's socket at once (no unbind)
'use strict';

const http = require('http');
const smpp = require('smpp');

const fs = require('fs');
const [systemId, password, keyFile, certFile] = process.argv.slice(2);
if (!systemId || password === undefined) {
	process.stderr.write('usage: node smsc.js SYSTEM_ID PASSWORD\n');
	process.exit(2);
}

// Keep the short_message's bytes as they came; node-smpp's own decoding is applied in
// record() so both what was sent and what node-smpp reads from it are reported.
const decodeMessage = smpp.filters.message.decode;
smpp.filters.message.decode = function (value) {
	return value;
};

const STATES = {DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, UNKNOWN: 7, REJECTD: 8};
const behaviour = {throttle: 0, queue_full: 0, refuse: null, delay_ms: 0,
	receipt: null, receipt_first: false, tlvs: true};
const submits = [];
const binds = [];
const receiptAnswers = [];
const bound = [];
let enquireLinks = 0;
let nextId = 0x5a000;

function record(pdu, answer) {
	const raw = Buffer.isBuffer(pdu.short_message) ? pdu.short_message : Buffer.alloc(0);
	const decoded = decodeMessage.call(pdu, raw);
	submits.push({
		source_addr_ton: pdu.source_addr_ton,
		source_addr_npi: pdu.source_addr_npi,
		source_addr: pdu.source_addr,
		dest_addr_ton: pdu.dest_addr_ton,
		dest_addr_npi: pdu.dest_addr_npi,
		destination_addr: pdu.destination_addr,
		esm_class: pdu.esm_class,
		registered_delivery: pdu.registered_delivery,
		data_coding: pdu.data_coding,
		short_message_hex: raw.toString('hex'),
		text: decoded && typeof decoded.message === 'string' ? decoded.message : null,
		answer: answer,
	});
}

// The text says textId and textStat where given (an SMSC whose text and TLVs disagree).
function receipt(session, messageId, stat, tlvs, textId, textStat) {
	const said = textStat || stat;
	const text = `id:${textId || messageId} sub:001 dlvrd:${said === 'DELIVRD' ? '001' : '000'} ` +
		`submit date:2401011200 done date:2401011201 stat:${said} err:000 text:`;
	const fields = {
		source_addr_ton: 1, source_addr_npi: 1, source_addr: '447911123456',
		dest_addr_ton: 5, dest_addr_npi: 0, destination_addr: 'TFA',
		esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
		short_message: Buffer.from(text, 'ascii'),
	};
	if (tlvs) {
		fields.receipted_message_id = messageId;
		fields.message_state = STATES[stat];
	}
	session.deliver_sm(fields, (resp) => receiptAnswers.push(resp.command_status));
}

function onSubmit(session, pdu) {
	let status = smpp.ESME_ROK;
	if (behaviour.throttle > 0) {
		behaviour.throttle -= 1;
		status = smpp.ESME_RTHROTTLED;
	} else if (behaviour.queue_full > 0) {
		behaviour.queue_full -= 1;
		status = smpp.ESME_RMSGQFUL;
	} else if (behaviour.refuse) {
		status = smpp[behaviour.refuse];
	}
	const messageId = status === smpp.ESME_ROK ? (nextId++).toString(16) : '';
	record(pdu, {command_status: status, message_id: messageId});
	const stat = status === smpp.ESME_ROK ? behaviour.receipt : null;
	if (stat && behaviour.receipt_first) {
		receipt(session, messageId, stat, behaviour.tlvs);
	}
	const answer = () => {
		session.send(pdu.response({command_status: status, message_id: messageId}));
		if (stat && !behaviour.receipt_first) {
			receipt(session, messageId, stat, behaviour.tlvs);
		}
	};
	if (behaviour.delay_ms < 0) {
		return;
	}
	if (behaviour.delay_ms > 0) {
		setTimeout(answer, behaviour.delay_ms);
	} else {
		answer();
	}
}

function onBind(session, pdu) {
	let status = smpp.ESME_ROK;
	if (pdu.system_id !== systemId) {
		status = smpp.ESME_RINVSYSID;
	} else if (pdu.password !== password) {
		status = smpp.ESME_RINVPASWD;
	}
	binds.push({command: pdu.command, system_id: pdu.system_id,
		system_type: pdu.system_type, accepted: status === smpp.ESME_ROK});
	session.send(pdu.response({command_status: status, system_id: 'node-smpp'}));
	if (status !== smpp.ESME_ROK) {
		session.close();
		return;
	}
	bound.push(session);
	session.on('close', () => bound.splice(bound.indexOf(session), 1));
}

const tlsOptions = keyFile ? {key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile)} : {};
const server = smpp.createServer(tlsOptions, (session) => {
	session.on('error', () => session.destroy());
	for (const command of ['bind_transceiver', 'bind_transmitter', 'bind_receiver']) {
		session.on(command, (pdu) => onBind(session, pdu));
	}
	session.on('submit_sm', (pdu) => onSubmit(session, pdu));
	session.on('enquire_link', (pdu) => {
		enquireLinks += 1;
		session.send(pdu.response());
	});
	session.on('unbind', (pdu) => {
		session.send(pdu.response());
		session.close();
	});
});

function control(req, res) {
	let body = '';
	req.on('data', (chunk) => (body += chunk));
	req.on('end', () => {
		const given = body ? JSON.parse(body) : {};
		let answer = {};
		const route = `${req.method} ${req.url}`;
		if (route === 'GET /submits') {
			answer = submits;
		} else if (route === 'GET /binds') {
			answer = binds;
		} else if (route === 'GET /state') {
			answer = {sessions: bound.length, enquire_links: enquireLinks,
				receipt_answers: receiptAnswers};
		} else if (route === 'POST /behave') {
			Object.assign(behaviour, given);
			answer = behaviour;
		} else if (route === 'POST /receipt') {
			const session = bound[bound.length - 1];
			if (!session) {
				res.writeHead(409);
				res.end('{"error": "no bound session"}');
				return;
			}
			receipt(session, given.message_id, given.stat, given.tlvs !== false,
				given.text_id, given.text_stat);
		} else if (route === 'POST /drop') {
			answer = {dropped: bound.length};
			for (const session of [...bound]) {
				session.destroy();
			}
		} else {
			res.writeHead(404);
			res.end('{}');
			return;
		}
		res.writeHead(200, {'Content-Type': 'application/json'});
		res.end(JSON.stringify(answer));
	});
}

const controlServer = http.createServer(control);
server.listen(0, '127.0.0.1', () => {
	controlServer.listen(0, '127.0.0.1', () => {
		process.stdout.write(JSON.stringify({smpp: server.address().port,
			control: controlServer.address().port}) + '\n');
	});
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
