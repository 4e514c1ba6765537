// What a shared object asks of the system, read from its ELF file (64-bit little-endian,
// which is every target shmrpc prebuilds): its machine, the libraries it needs (DT_NEEDED),
// and the symbol versions it needs from each (.gnu.version_r: GLIBC_2.28, GLIBCXX_3.4.30, ...).
// The same as `readelf -d` and `readelf -V`, for any architecture, without binutils.
import { readFileSync } from "node:fs";

const SHT_DYNAMIC = 6;
const SHT_GNU_VERNEED = 0x6ffffffe;
const DT_NEEDED = 1;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

/** @returns {{ machine: number, needed: string[], versions: Record<string, string[]> }} */
export function elfInfo(file) {
  const b = readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file}: not an ELF file`);
  if (b[4] !== 2 || b[5] !== 1) throw new Error(`${file}: not a 64-bit little-endian ELF file`);
  const machine = b.readUInt16LE(18);
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const sections = [];
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * shentsize;
    sections.push({
      type: b.readUInt32LE(at + 4),
      offset: Number(b.readBigUInt64LE(at + 0x18)),
      size: Number(b.readBigUInt64LE(at + 0x20)),
      link: b.readUInt32LE(at + 0x28),
      info: b.readUInt32LE(at + 0x2c),
    });
  }
  const str = (section, at) => {
    const start = section.offset + at;
    return b.toString("latin1", start, b.indexOf(0, start));
  };

  const needed = [];
  for (const s of sections.filter((s) => s.type === SHT_DYNAMIC)) {
    for (let at = s.offset; at + 16 <= s.offset + s.size; at += 16) {
      const tag = Number(b.readBigInt64LE(at));
      if (tag === 0) break;
      if (tag === DT_NEEDED) needed.push(str(sections[s.link], Number(b.readBigUInt64LE(at + 8))));
    }
  }

  const versions = {};
  for (const s of sections.filter((s) => s.type === SHT_GNU_VERNEED)) {
    const strtab = sections[s.link];
    let at = s.offset;
    for (let n = 0; n < s.info; n++) {
      // Elf64_Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32
      const cnt = b.readUInt16LE(at + 2);
      const lib = str(strtab, b.readUInt32LE(at + 4));
      let aux = at + b.readUInt32LE(at + 8);
      const list = (versions[lib] ??= []);
      for (let k = 0; k < cnt; k++) {
        // Elf64_Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32
        list.push(str(strtab, b.readUInt32LE(aux + 8)));
        aux += b.readUInt32LE(aux + 12);
      }
      at += b.readUInt32LE(at + 12);
    }
  }
  return { machine, needed, versions };
}

/** The highest version of each prefix ("GLIBC", "GLIBCXX", "CXXABI", "GCC") a file needs. */
export function highestVersions(info) {
  const top = {};
  for (const v of Object.values(info.versions).flat()) {
    const m = /^([A-Z]+)_([0-9.]+)$/.exec(v);
    if (!m) continue;
    if (top[m[1]] === undefined || compareVersions(m[2], top[m[1]]) > 0) top[m[1]] = m[2];
  }
  return top;
}

export function compareVersions(a, b) {
  const x = a.split(".").map(Number);
  const y = b.split(".").map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
