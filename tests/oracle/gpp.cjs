// The IAB GPP reference library as an oracle: JSON lines in, JSON lines out.
//   {"op": "encode", "fields": {"usnat": {...}, "usca": {...}}} -> {"s": "<gpp string>"}
//   {"op": "decode", "s": "<gpp string>"} -> {"sectionIds": [...], "sections": {...}} | {"error": "..."}
const { GppModel } = require("@iabgpp/cmpapi");
const readline = require("readline");

const DECODED = ["usnat", "usca"];

function decode(s) {
  const model = new GppModel(s);
  const out = { sectionIds: model.getSectionIds(), sections: {} };
  for (const name of DECODED) {
    const section = model.getSection(name);
    if (section !== null) out.sections[name] = section;
  }
  return out;
}

function encode(fields) {
  const model = new GppModel();
  for (const [section, values] of Object.entries(fields)) {
    for (const [name, value] of Object.entries(values)) model.setFieldValue(section, name, value);
  }
  return { s: model.encode() };
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let answer;
  try {
    const req = JSON.parse(line);
    answer = req.op === "encode" ? encode(req.fields) : decode(req.s);
  } catch (e) {
    answer = { error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
