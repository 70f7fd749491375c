/**
 * Captures what the code under test writes to process.stdout (Powertools logs, EMF metrics) in
 * each test of the file or describe block that calls it; restored after each test.
 */
export function captureStdout(): { text(): string; clear(): void } {
  const chunks: string[] = [];
  beforeEach(() => {
    chunks.length = 0;
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      chunks.push(chunk.toString());
      return true;
    });
  });
  afterEach(() => jest.restoreAllMocks());
  return { text: () => chunks.join(''), clear: () => void (chunks.length = 0) };
}
