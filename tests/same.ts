// Strict structural equality for decoded values (shared by the codec tests and the fuzzer).

/** Strict structural equality: types, prototypes, -0, NaN, key order, bytes. */
export function same(a: unknown, b: unknown, path = "value"): void {
  if (typeof a !== typeof b) throw new Error(`${path}: ${typeof a} became ${typeof b}`);
  if (typeof a !== "object" || a === null || b === null) {
    if (!Object.is(a, b)) throw new Error(`${path}: ${String(a)} became ${String(b)}`);
    return;
  }
  const pa = Object.getPrototypeOf(a);
  const pb = Object.getPrototypeOf(b);
  const expected = pa === null ? Object.prototype : pa;
  if (pb !== expected) throw new Error(`${path}: prototype ${expected?.constructor?.name} became ${pb?.constructor?.name}`);
  if (ArrayBuffer.isView(a) || a instanceof ArrayBuffer || a instanceof SharedArrayBuffer) {
    const ba = ArrayBuffer.isView(a) ? new Uint8Array(a.buffer, a.byteOffset, a.byteLength) : new Uint8Array(a);
    const bb = ArrayBuffer.isView(b) ? new Uint8Array((b as ArrayBufferView).buffer, (b as ArrayBufferView).byteOffset, (b as ArrayBufferView).byteLength) : new Uint8Array(b as ArrayBuffer);
    if (!Buffer.from(ba).equals(Buffer.from(bb))) throw new Error(`${path}: bytes differ`);
    return;
  }
  if (a instanceof Date) return same(a.getTime(), (b as Date).getTime(), path + ".getTime()");
  if (a instanceof Map) {
    const ea = [...a];
    const eb = [...(b as Map<unknown, unknown>)];
    same(ea.length, eb.length, path + ".size");
    ea.forEach(([k, v], i) => {
      same(k, eb[i]![0], `${path}.keys()[${i}]`);
      same(v, eb[i]![1], `${path}.values()[${i}]`);
    });
    return;
  }
  if (a instanceof Set) return same([...a], [...(b as Set<unknown>)], path);
  if (a instanceof Error) {
    const eb = b as Error;
    same(a.name, eb.name, path + ".name");
    same(a.message, eb.message, path + ".message");
    same(a.stack, eb.stack, path + ".stack");
    if (Object.hasOwn(a, "cause")) same(a.cause, eb.cause, path + ".cause");
  }
  if (Array.isArray(a)) {
    const ab = b as unknown[];
    same(a.length, ab.length, path + ".length");
    for (let i = 0; i < a.length; i++) same(a[i], ab[i], `${path}[${i}]`);
    return;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b as object);
  if (ka.join("\0") !== kb.join("\0")) throw new Error(`${path}: keys ${ka} became ${kb}`);
  for (const k of ka) same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
}
