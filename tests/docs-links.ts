// What tests/docs.test.ts checks in Markdown and HTML: links and the anchors they name, and the fenced code
// blocks. Pure functions over text, so that each rule reads on its own.

/** A fenced code block: its language (the info string's first word), its text, the line its fence opens
 *  on (1-based), and the HTML comment on the line just before the fence, if any. */
export interface CodeBlock {
  lang: string;
  code: string;
  line: number;
  comment: string | undefined;
}

/** The fenced code blocks of a Markdown text (``` fences, indented or not, as the docs use them). */
export function codeBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split("\n");
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]!); j++) body.push(lines[j]!.slice(Math.min(indent, lines[j]!.length - lines[j]!.trimStart().length)));
    const before = i > 0 ? /^\s*<!--\s*([\s\S]*?)\s*-->\s*$/.exec(lines[i - 1]!) : null;
    blocks.push({ lang: open[2]!.trim().split(/\s+/)[0] ?? "", code: body.length ? body.join("\n") + "\n" : "", line: i + 1, comment: before?.[1] });
    i = j;
  }
  return blocks;
}

/** The text outside fenced code blocks and inline code spans (where links are links). */
export function prose(markdown: string): string {
  return markdown
    .replace(/^\s*```[^\n]*\n[\s\S]*?^\s*```\s*$/gm, "")
    .replace(/`[^`\n]*`/g, "");
}

/** Every link target of a Markdown text: [text](target) and ![alt](target), outside code. */
export function markdownLinks(markdown: string): string[] {
  const out: string[] = [];
  for (const m of prose(markdown).matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push(m[1]!);
  return out;
}

/** GitHub's anchor of a heading (github-slugger): lower case, punctuation dropped, spaces to hyphens. */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // links: their text
    .replace(/[`*]/g, "") // code and emphasis marks
    .replace(/<[^>]+>/g, ""); // inline HTML
  return text.trim().toLowerCase().replace(/[^\p{L}\p{N}\p{M}\p{Pc}\- ]/gu, "").replace(/ /g, "-");
}

/** The anchors GitHub gives the headings of a Markdown text (a repeated one gets -1, -2, ...), plus
 *  explicit `<a id>`/`<a name>` anchors. */
export function markdownAnchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const m of prose(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = githubSlug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of markdown.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  return anchors;
}

/** The href and src targets of an HTML page. */
export function htmlLinks(html: string): string[] {
  const out: string[] = [];
  for (const m of html.matchAll(/\s(?:href|src)="([^"]*)"/g)) out.push(m[1]!.replace(/&amp;/g, "&"));
  return out;
}

/** The ids (and names) an HTML page defines: what `page.html#anchor` may name. */
export function htmlAnchors(html: string): Set<string> {
  const out = new Set<string>();
  for (const m of html.matchAll(/\s(?:id|name)="([^"]+)"/g)) out.add(m[1]!);
  return out;
}

/** Whether a link leaves the site or the repository (checked by nobody here). */
export function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target);
}
