// A node:test reporter for test/suite.mjs: how many tests each file ran, as one JSON object.
// A file that defines no test shows up as one "test" named after the file itself (node runs
// each file as a test of its own): that one is not counted, nor are suites.
export default async function* fileCounts(source) {
  const counts = {};
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const { name, file, details } = event.data;
    if (!file) continue;
    counts[file] ??= 0;
    if (name !== file && details?.type !== "suite") counts[file]++;
  }
  yield `${JSON.stringify(counts)}\n`;
}
