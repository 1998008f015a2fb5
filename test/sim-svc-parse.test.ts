/** SVC simulator, pure parts: shell-style splitting, flag tables, views, filters, names. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { shellSplit, splitPipeline } from "../src/sim/svc/shell-split.ts";
import { parseArgs } from "../src/sim/svc/args.ts";
import { formatCapacity, formatConcise, formatDetailed, grepLines, parseFilters, matchValue, parseSize } from "../src/sim/svc/format.ts";
import { defaultName, lowestFreeId, makeUid, validateName } from "../src/sim/svc/model.ts";
import { SvcCliError } from "../src/sim/svc/errors.ts";

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    if (e instanceof SvcCliError) return e.code;
    throw e;
  }
  return "none";
};

test("shell-style splitting: quotes, escapes, pipes", () => {
  const v = (l: string): string[] => shellSplit(l).map((t) => t.value);
  assert.deepEqual(v(`svcinfo lsvdisk -bytes -delim ! "vol 1"`), ["svcinfo", "lsvdisk", "-bytes", "-delim", "!", "vol 1"]);
  assert.deepEqual(v(`lsvdisk -filtervalue "name=md*" 'it''s' a\\ b`), ["lsvdisk", "-filtervalue", "name=md*", "its", "a b"]);
  assert.deepEqual(v(`x "a\\"b" ''`), ["x", 'a"b', ""]);
  assert.deepEqual(splitPipeline(shellSplit("lshostvdiskmap | grep -w Node1")), [["lshostvdiskmap"], ["grep", "-w", "Node1"]]);
  assert.deepEqual(splitPipeline(shellSplit("echo '|'")), [["echo", "|"]]);
  assert.throws(() => shellSplit(`a "b`));
});

test("flag tables: unknown flag, missing value, object argument", () => {
  const spec = { flags: { "-name": "one", "-force": "none" }, obj: "optional" } as const;
  const a = parseArgs(["-force", "-name", "x", "obj"], spec);
  assert.equal(a.flags.get("-name"), "x");
  assert.equal(a.flags.get("-force"), true);
  assert.equal(a.obj, "obj");
  assert.equal(code(() => parseArgs(["-bogus"], spec)), "CMMVC5709E");
  assert.equal(code(() => parseArgs(["-name"], spec)), "CMMVC5708E");
  assert.equal(code(() => parseArgs(["a", "b"], spec)), "CMMVC5706E");
  assert.equal(code(() => parseArgs([], { ...spec, obj: "required" })), "CMMVC5701E");
});

test("views, capacities, filters, names, ids", () => {
  const rows = [{ id: "0", name: "a" }, { id: "10", name: "bb" }];
  assert.equal(formatConcise(["id", "name"], rows, { delim: ":", nohdr: false }), "id:name\n0:a\n10:bb\n");
  assert.equal(formatConcise(["id", "name"], rows, { nohdr: false }), "id name\n0  a\n10 bb\n");
  assert.equal(formatConcise(["id", "name"], rows, { delim: ",", nohdr: true }), "0,a\n10,bb\n");
  assert.equal(formatConcise(["id"], [], { nohdr: false }), "");
  assert.equal(formatDetailed([["id", "1"], null, ["x", ""]], { delim: ":", nohdr: false }), "id:1\n\nx:\n");
  assert.equal(formatDetailed([["id", "1"]], { nohdr: true }), "1\n");
  assert.equal(formatCapacity(10737418240, false), "10.00GB");
  assert.equal(formatCapacity(10737418240, true), "10737418240");
  assert.equal(formatCapacity(0, false), "0.00MB");
  assert.equal(parseSize("4", undefined), 4 * 1024 * 1024);
  assert.equal(parseSize("1", "gb"), 1024 ** 3);
  assert.equal(code(() => parseSize("100", "b")), "CMMVC5706E");
  assert.deepEqual(parseFilters("name=md*:id=3", ["id", "name"]), [{ attr: "name", value: "md*" }, { attr: "id", value: "3" }]);
  assert.equal(code(() => parseFilters("colour=red", ["id"])), "CMMVC5741E");
  assert.equal(code(() => parseFilters("name=a*b*", ["name"])), "CMMVC5741E");
  assert.ok(matchValue("mdisk1", "md*") && matchValue("x_vol", "*vol") && !matchValue("abc", "b*"));
  assert.equal(grepLines("a Node1 x\nb Node12 y\n", ["-w", "Node1"]), "a Node1 x\n");
  assert.equal(code(() => validateName("1abc")), "CMMVC7249E");
  assert.equal(code(() => validateName("a:b", "host")), "CMMVC6527E");
  assert.equal(code(() => validateName("x".repeat(64))), "CMMVC5738E");
  assert.equal(code(() => validateName("é")), "CMMVC6017E");
  assert.equal(code(() => validateName("Node1_1.a-b c")), "none");
  assert.equal(lowestFreeId([0, 1, 3]), 2);
  assert.equal(lowestFreeId([], 1), 1);
  assert.equal(defaultName("fcmap", ["fcmap0", "fcmap2"]), "fcmap1");
  assert.equal(makeUid("000002042E20B1C0", 26), "6005076802042E20B1C000000000001A");
});
