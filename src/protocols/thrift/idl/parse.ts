import { createParser, createScanner, SyntaxType, type ThriftDocument, type ThriftError, type Token } from '@creditkarma/thrift-parser';
import { IdlError } from '../../../core/errors.js';

/** A source position for error messages: `file:line:column`. */
export interface SourceLoc {
  readonly line: number;
  readonly column: number;
}

export function idlError(file: string, loc: SourceLoc | undefined, message: string): IdlError {
  return new IdlError(loc ? `${file}:${loc.line}:${loc.column}: ${message}` : `${file}: ${message}`);
}

class ReportedError extends Error {
  constructor(readonly report: ThriftError) {
    super(report.message);
  }
}

/**
 * Parses one .thrift source. The library's own `parse()` prints errors to stdout and does not
 * accept annotations after a namespace (valid Apache Thrift), so we drive its scanner and parser
 * directly: the first error throws, and namespace annotations are dropped at the token level.
 */
export function parseThrift(source: string, displayPath: string): ThriftDocument {
  const report = (err: ThriftError): never => {
    throw new ReportedError(err);
  };
  try {
    const tokens = dropNamespaceAnnotations(signedHex(createScanner(starNamespaces(source), report).scan()));
    return createParser(tokens, report).parse();
  } catch (err) {
    if (err instanceof ReportedError) {
      const msg = err.report.message.trim() || 'syntax error';
      throw idlError(displayPath, err.report.loc.start, `syntax error: ${msg}`);
    }
    throw err;
  }
}

/** Stands in for the `*` scope of `namespace * x`, which the scanner rejects (same length, so locations hold). */
export const STAR_SCOPE = '_';

/** `namespace * thrift.test` (every language) becomes `namespace _ thrift.test` before scanning. */
function starNamespaces(source: string): string {
  return source.replace(/^(\s*namespace\s+)\*(?=\s)/gm, `$1${STAR_SCOPE}`);
}

/**
 * `-0x1F` (Apache's ConstantsDemo.thrift): the scanner reads `-0` and an identifier `x1F`; the
 * two adjacent tokens become one hex literal again.
 */
function signedHex(tokens: Token[]): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    const next = tokens[i + 1];
    if (
      tok.type === SyntaxType.IntegerLiteral &&
      /^[+-]0$/.test(tok.text) &&
      next?.type === SyntaxType.Identifier &&
      /^[xX][0-9a-fA-F]+$/.test(next.text) &&
      next.loc.start.index === tok.loc.end.index
    ) {
      out.push({ ...tok, type: SyntaxType.HexLiteral, text: tok.text + next.text, loc: { start: tok.loc.start, end: next.loc.end } });
      i++;
    } else out.push(tok);
  }
  return out;
}

function dropNamespaceAnnotations(tokens: Token[]): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    out.push(tok);
    if (tok.type !== SyntaxType.NamespaceKeyword || tokens[i + 3]?.type !== SyntaxType.LeftParenToken) continue;
    out.push(tokens[i + 1]!, tokens[i + 2]!);
    i += 3;
    while (i < tokens.length && tokens[i]!.type !== SyntaxType.RightParenToken) i++;
  }
  return out;
}
