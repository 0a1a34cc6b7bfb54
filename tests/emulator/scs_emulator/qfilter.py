"""Evaluate the Lucene query-string subset SCS passes to Elasticsearch, over alert dicts.

Parsed with luqum, compiled once per query string into a predicate. Semantics (an approximation
of Elasticsearch on the SCS mapping):

- `field:value` with dotted fields (`alert.signature_id`); a `.raw` / `.keyword` suffix means an
  exact, case-sensitive match on the keyword sub-field (the SCS index template maps every string
  with both); an unknown field matches nothing. With `analysed_subfields`, those sub-fields are
  analysed like the text field instead (a mapping where they are not keywords).
- `_id` is a keyword (as the Elasticsearch metadata field): exact, case-sensitive, like a quoted phrase
  on a `.raw` field.
- numbers compare numerically (flow_id exactly, as integers); booleans as true/false;
  strings as Elasticsearch's standard analyser on a text field: the whole value (case-insensitive), or
  the query's tokens as a run of the value's tokens, where tokens are the runs of letters, digits and
  `_`, lower-cased, so that `host:"probe-01"` (a phrase, as an unquoted multi-token term) matches
  `probe-01-dmz` too;
  an IP field also matches a CIDR value (`src_ip:"10.0.0.0/8"`).
- quoted phrases, backslash escapes, `*` and `?` wildcards (whole value), `/regex/`.
- AND, OR, NOT, `+`, `-`, parentheses, `field:(a OR b)`; the implicit operator is AND.
- ranges `[a TO b]`, `{a TO b}`, `*` as an open end, `field:>a`, `field:<=b`.
- `_exists_:field`; a bare value (no field) matches any field of the document.
"""

import functools
import ipaddress
import re

from luqum import tree
from luqum.exceptions import ParseError
from luqum.parser import parser

_SUFFIXES = (".raw", ".keyword")
# Elasticsearch metadata fields that are keywords: exact, case-sensitive matches only.
_KEYWORD_FIELDS = frozenset(("_id",))
_MISSING = object()
_TOKEN_RE = re.compile(r"\w+")


class QueryError(ValueError):
    """The query string cannot be parsed."""


@functools.lru_cache(maxsize=512)
def compile_query(query, analysed_subfields=False):
    """Return a predicate doc -> bool for a Lucene query string (empty: match all)."""
    if query is None or not query.strip():
        return lambda doc: True
    try:
        node = parser.parse(query)
    except (ParseError, TypeError, ValueError) as exc:
        raise QueryError("Failed to parse query [%s]: %s" % (query, exc)) from None
    return _compile(node, None, analysed_subfields)


def matches(query, doc):
    return compile_query(query)(doc)


def _all(preds):
    return lambda doc: all(p(doc) for p in preds)


def _any(preds):
    return lambda doc: any(p(doc) for p in preds)


def _compile(node, field, analysed):  # pylint: disable=too-many-return-statements
    if isinstance(node, tree.SearchField):
        return _compile(node.expr, node.name, analysed)
    if isinstance(node, (tree.Group, tree.FieldGroup)):
        return _compile(node.expr, field, analysed)
    if isinstance(node, (tree.AndOperation, tree.UnknownOperation)):
        return _all([_compile(c, field, analysed) for c in node.children])
    if isinstance(node, tree.OrOperation):
        return _any([_compile(c, field, analysed) for c in node.children])
    if isinstance(node, (tree.Not, tree.Prohibit)):
        inner = _compile(node.a, field, analysed)
        return lambda doc: not inner(doc)
    if isinstance(node, tree.Plus):
        return _compile(node.a, field, analysed)
    if isinstance(node, tree.Boost):
        return _compile(node.expr, field, analysed)
    if isinstance(node, (tree.Fuzzy, tree.Proximity)):
        return _compile(node.term, field, analysed)
    if isinstance(node, tree.Range):
        return _range(field, _bound(node.low), _bound(node.high), node.include_low, node.include_high, analysed)
    if isinstance(node, tree.From):
        return _range(field, _bound(node.a), None, node.include, True, analysed)
    if isinstance(node, tree.To):
        return _range(field, None, _bound(node.a), True, node.include, analysed)
    if isinstance(node, (tree.Word, tree.Phrase, tree.Regex)):
        return _term(field, node, analysed)
    raise QueryError("Unsupported query element: %r" % (node,))


# ---------------------------------------------------------------- values

def _unescape(text):
    return re.sub(r"\\(.)", r"\1", text)


def _walk(obj, parts):
    """Leaf values under a path of keys (lists expanded at any level)."""
    for i, part in enumerate(parts):
        if isinstance(obj, dict):
            if part not in obj:
                return []
            obj = obj[part]
        elif isinstance(obj, list):
            out = []
            for item in obj:
                out.extend(_walk(item, parts[i:]))
            return out
        else:
            return []
    if obj is None:
        return []
    if isinstance(obj, list):
        return [v for v in _leaves(obj, []) if v is not None]
    return [obj]


def lookup(doc, field):
    """Leaf values of a dotted field (lists expanded); [] when absent."""
    return _walk(doc, tuple(field.split(".")))


def _leaves(obj, out):
    if isinstance(obj, dict):
        for val in obj.values():
            _leaves(val, out)
    elif isinstance(obj, list):
        for val in obj:
            _leaves(val, out)
    elif obj is not None:
        out.append(obj)
    return out


_LEAVES_CACHE = {}


def _all_leaves(doc):
    key = doc.get("_id") if isinstance(doc, dict) else None
    if key is None:
        return _leaves(doc, [])
    cached = _LEAVES_CACHE.get(key)
    if cached is None:
        if len(_LEAVES_CACHE) > 200000:
            _LEAVES_CACHE.clear()
        cached = _LEAVES_CACHE[key] = _leaves(doc, [])
    return cached


@functools.lru_cache(maxsize=2048)
def _getter(field, analysed=False):
    """doc -> (values, exact) for a field; exact means a keyword sub-field (.raw / .keyword), unless ``analysed``."""
    if field is None or field == "*":
        return lambda doc: (_all_leaves(doc), False)
    parts = tuple(field.split("."))
    if field in _KEYWORD_FIELDS:
        return lambda doc: (_walk(doc, parts), True)
    base = None
    for suffix in _SUFFIXES:
        if field.endswith(suffix):
            base = tuple(field[:-len(suffix)].split("."))

    def get(doc):
        vals = _walk(doc, parts)
        if vals or base is None:
            return vals, False
        return _walk(doc, base), not analysed
    return get


def _number(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        pass
    try:
        return float(text)
    except (TypeError, ValueError):
        return _MISSING


def _is_number(val):
    return isinstance(val, (int, float)) and not isinstance(val, bool)


# ---------------------------------------------------------------- terms

def _wildcard_regex(raw):
    """Regex for an unquoted Lucene term with wildcards (backslash escapes are literals)."""
    parts = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "\\" and i + 1 < len(raw):
            parts.append(re.escape(raw[i + 1]))
            i += 2
            continue
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
        i += 1
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _has_wildcard(raw):
    return re.search(r"(?<!\\)[*?]", raw) is not None


@functools.lru_cache(maxsize=65536)
def _tokens(text):
    """The terms Elasticsearch's standard analyser makes of a text, approximately: runs of letters, digits and _,
    lower-cased."""
    return tuple(_TOKEN_RE.findall(text.lower()))


def _has_run(tokens, run):
    width = len(run)
    return any(tokens[i:i + width] == run for i in range(len(tokens) - width + 1))


def _string_matcher(text, exact):
    low = text.lower()
    run = _tokens(text)
    network = None
    if "/" in text:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            network = None

    def match(val):
        sval = val if isinstance(val, str) else str(val)
        if exact:
            return sval == text
        if sval.lower() == low:
            return True
        if network is not None:
            try:
                return ipaddress.ip_address(sval) in network
            except ValueError:
                return False
        return bool(run) and _has_run(_tokens(sval), run)
    return match


def _value_matcher(text, exact):
    number = _number(text)
    as_string = _string_matcher(text, exact)
    lowered = text.lower()

    def match(val):
        if isinstance(val, bool):
            return lowered == ("true" if val else "false")
        if _is_number(val):
            return number is not _MISSING and val == number
        if isinstance(val, (dict, list)):
            return False
        return as_string(val)
    return match


def _regex_matcher(rx):
    def match(val):
        return rx.fullmatch(str(val).lower() if isinstance(val, bool) else str(val)) is not None
    return match


def _term(field, node, analysed=False):
    single = None
    if isinstance(node, tree.Regex):
        single = _regex_matcher(re.compile(node.value[1:-1], re.DOTALL))
    elif not isinstance(node, tree.Phrase) and _has_wildcard(node.value):
        single = _regex_matcher(_wildcard_regex(node.value))
    if field == "_exists_":
        target = _getter(_unescape(node.value.strip('"')), analysed)
        return lambda doc: bool(target(doc)[0])
    get = _getter(field, analysed)
    if single is not None:
        def pred(doc):
            return any(single(v) for v in get(doc)[0])
        return pred
    # A phrase is one value, compared like a word: exactly on a keyword field, as a run of words on a text field.
    text = _unescape(node.value[1:-1] if isinstance(node, tree.Phrase) else node.value)
    plain = _value_matcher(text, False)
    exact_m = _value_matcher(text, True)

    def pred_word(doc):
        vals, exact = get(doc)
        m = exact_m if exact else plain
        return any(m(v) for v in vals)
    return pred_word


# ---------------------------------------------------------------- ranges

def _bound(node):
    if isinstance(node, tree.Phrase):
        return _unescape(node.value[1:-1])
    value = _unescape(node.value)
    return None if value == "*" else value


def _range(field, low, high, inc_low, inc_high, analysed=False):
    low_n, high_n = _number(low), _number(high)

    def within(val):
        if _is_number(val):
            lo, hi = low_n, high_n
            if (low is not None and lo is _MISSING) or (high is not None and hi is _MISSING):
                return False
        elif isinstance(val, str):
            lo, hi = low, high
        else:
            return False
        if low is not None and (val < lo or (val == lo and not inc_low)):
            return False
        if high is not None and (val > hi or (val == hi and not inc_high)):
            return False
        return True

    get = _getter(field, analysed)

    def pred(doc):
        return any(within(v) for v in get(doc)[0])
    return pred
