/**
 * The report's Markdown as HTML for `tune serve`'s page (marked, GitHub-flavoured). PURE.
 *
 * - Headings get GitHub's ids, so the report's own links (`[3](#run-3)`) work on the page.
 * - A plot image (`plots/run-3.svg`, `plots/study.svg`) becomes a figure the page draws with
 *   vega-embed from the same Vega-Lite spec, the SVG file kept as the fallback without JavaScript.
 * - Raw HTML is escaped except the few tags the report writes itself (`<details>`, `<summary>`):
 *   the report quotes text that comes from elsewhere (a policy's reasons, class folder names).
 * - Links keep only relative, `#`, http(s) and mailto targets.
 */
import { Marked, type Tokens } from 'marked';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe inside HTML elements and quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces as '-'. */
export function headingId(text: string): string {
  return text
    .toLowerCase()
    .trim()
    .replace(/<[^>]*>/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The plot a report image shows: 'run-3', 'study', or null for another image. */
export function plotIdOf(href: string): string | null {
  return /^plots\/(run-\d+|study)\.svg$/.exec(href)?.[1] ?? null;
}

const ALLOWED_TAGS = /^<\/?(details|summary)>$/i;

function safeHref(href: string): string | null {
  return /^(#|https?:|mailto:|(?![a-z][a-z0-9+.-]*:)[^\s]*$)/i.test(href) ? href : null;
}

const marked = new Marked({
  gfm: true,
  renderer: {
    heading({ tokens, depth, text }: Tokens.Heading) {
      return `<h${depth} id="${escapeHtml(headingId(text))}">${this.parser.parseInline(tokens)}</h${depth}>\n`;
    },
    html({ text }: Tokens.HTML | Tokens.Tag) {
      return text.replace(/<[^>]*>|[^<]+|</g, (part) => (ALLOWED_TAGS.test(part) ? part : escapeHtml(part)));
    },
    paragraph({ tokens }: Tokens.Paragraph) {
      // A plot alone in its paragraph is a block of its own (a figure may not sit inside <p>).
      const only = tokens.length === 1 && tokens[0].type === 'image' ? (tokens[0] as Tokens.Image) : null;
      if (only && plotIdOf(only.href) !== null) return `${this.parser.parseInline(tokens)}\n`;
      return `<p>${this.parser.parseInline(tokens)}</p>\n`;
    },
    image({ href, text }: Tokens.Image) {
      const plot = plotIdOf(href);
      const alt = escapeHtml(text);
      if (plot === null) return safeHref(href) ? `<img src="${escapeHtml(href)}" alt="${alt}">` : alt;
      return `<figure class="plot" data-plot="${plot}" aria-label="${alt}"><noscript><img src="${escapeHtml(href)}" alt="${alt}"></noscript></figure>`;
    },
    link({ href, title, tokens }: Tokens.Link) {
      const inner = this.parser.parseInline(tokens);
      const safe = safeHref(href);
      if (safe === null) return inner;
      return `<a href="${escapeHtml(safe)}"${title ? ` title="${escapeHtml(title)}"` : ''}>${inner}</a>`;
    },
  },
});

/** Markdown (the report's) → HTML. */
export function markdownHtml(markdown: string): string {
  return marked.parse(markdown, { async: false }) as string;
}
