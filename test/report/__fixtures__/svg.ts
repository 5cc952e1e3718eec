/**
 * A small well-formedness check for the SVG the plots produce (no XML parser among the
 * dependencies): one root <svg>, every tag closed in order, attributes quoted, no stray text
 * outside the root. Returns the problems found (empty when well-formed).
 */
export function svgProblems(svg: string): string[] {
  const problems: string[] = [];
  if (!svg.startsWith('<svg')) problems.push('does not start with <svg');
  if (!svg.trimEnd().endsWith('</svg>')) problems.push('does not end with </svg>');
  const stack: string[] = [];
  const tag = /<!--[\s\S]*?-->|<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"]*")*)\s*(\/?)>|<[^>]*>/g;
  let rootClosed = false;
  let m: RegExpExecArray | null;
  while ((m = tag.exec(svg))) {
    if (m[0].startsWith('<!--')) continue;
    if (!m[2]) {
      problems.push(`malformed tag at ${m.index}: ${m[0].slice(0, 60)}`);
      continue;
    }
    if (rootClosed) problems.push(`content after the root at ${m.index}`);
    const [, close, name, , selfClose] = m;
    if (close) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open}> at ${m.index}`);
      if (stack.length === 0) rootClosed = true;
    } else if (!selfClose) stack.push(name);
    else if (stack.length === 0) rootClosed = true;
  }
  if (stack.length) problems.push(`unclosed: ${stack.join(' > ')}`);
  return problems;
}

/** Text content of every <text> element. */
export function svgTexts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
}

/** The `d` attribute of every <path>. */
export function svgPaths(svg: string): string[] {
  return [...svg.matchAll(/<path[^>]*?\sd="([^"]*)"/g)].map((m) => m[1]);
}
