// Oracle for tests/test_tcf_oracle.py: the IAB reference library's answers.
// Reads JSON lines on stdin, writes one JSON line per input line on stdout:
//   {"op":"decode","s":"C..."}                      -> the model, or {"error": message}
//   {"op":"encode","model":{...},"segments":[...]}  -> {"s": "C..."} or {"error": message}
// The model uses the field names @iabtechlabtcf/core uses (the JSON `fairview tcf decode`
// prints). Encoding calls the reference's bit-level SegmentEncoder, not TCString.encode,
// which would first apply CMP semantics that need a real GVL (see docs/consent.md). The
// stand-in GVL lists every vendor id, so restriction ranges are the contiguous runs.
import readline from 'node:readline';
import {
  PurposeRestriction, SegmentEncoder, TCModel, TCString,
} from '@iabtechlabtcf/core';

const ALL_VENDOR_IDS = new Set(Array.from({ length: 65535 }, (_, i) => i + 1));
const ID_SETS = [
  'specialFeatureOptins', 'purposeConsents', 'purposeLegitimateInterests',
  'vendorConsents', 'vendorLegitimateInterests', 'vendorsDisclosed', 'vendorsAllowed',
  'publisherConsents', 'publisherLegitimateInterests',
  'publisherCustomConsents', 'publisherCustomLegitimateInterests',
];
const SCALARS = [
  'version', 'cmpId', 'cmpVersion', 'consentScreen', 'consentLanguage',
  'vendorListVersion', 'policyVersion', 'isServiceSpecific', 'useNonStandardTexts',
  'purposeOneTreatment', 'publisherCountryCode', 'numCustomPurposes',
];

const ids = (vector) => {
  const out = [];
  vector.forEach((on, id) => { if (on) out.push(id); });
  return out;
};

function toJson(m) {
  const out = { created: m.created.toISOString(), lastUpdated: m.lastUpdated.toISOString() };
  for (const key of SCALARS) out[key] = m[key];
  for (const key of ID_SETS) out[key] = ids(m[key]);
  out.publisherRestrictions = m.publisherRestrictions.getRestrictions().map((r) => ({
    purposeId: r.purposeId,
    restrictionType: r.restrictionType,
    vendorIds: m.publisherRestrictions.getVendors(r),
  }));
  return out;
}

function fromJson(data) {
  const m = new TCModel();
  m.created = new Date(data.created);
  m.lastUpdated = new Date(data.lastUpdated);
  for (const key of SCALARS) if (key in data) m[key] = data[key];
  for (const key of ID_SETS) if (key in data) m[key].set(data[key]);
  m.publisherRestrictions.gvl = { vendorIds: ALL_VENDOR_IDS };
  for (const r of data.publisherRestrictions ?? []) {
    const pr = new PurposeRestriction(r.purposeId, r.restrictionType);
    for (const v of r.vendorIds) m.publisherRestrictions.add(v, pr);
  }
  return m;
}

function answer(request) {
  try {
    if (request.op === 'decode') return toJson(TCString.decode(request.s));
    if (request.op === 'encode') {
      const m = fromJson(request.model);
      return { s: request.segments.map((seg) => SegmentEncoder.encode(m, seg)).join('.') };
    }
    return { error: `unknown op ${request.op}` };
  } catch (e) {
    return { error: String(e?.message ?? e) };
  }
}

const out = [];
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => { if (line.trim()) out.push(JSON.stringify(answer(JSON.parse(line)))); });
rl.on('close', () => { process.stdout.write(out.join('\n') + (out.length ? '\n' : '')); });
