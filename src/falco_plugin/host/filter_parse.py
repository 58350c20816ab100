"""The filter language's grammar, as libsinsp's ``filter/parser.cpp`` reads it, into an AST.

Same tokens, same precedence (``not`` over ``and`` over ``or``), same places where a blank is
required, and the same messages at the same positions (``filter error at index I, line L,
column C: ...``), so that a filter fails here exactly where it fails in Falco. Field
transformers (``tolower(...)``, ...) are parsed so that the compiler can refuse them by name;
``val(field)`` is the right-hand field of a field-to-field comparison.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_DEPTH = 100

# these follow libsinsp's regular expressions (POSIX classes spelled out)
_SPACE = " \t\n\r\f\v"
RGX_NOTBLANK = re.compile(r"not[ \t\n\r\f\v]+")
RGX_IDENTIFIER = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*")
RGX_FIELDNAME = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*(\.[a-zA-Z]+[a-zA-Z0-9_]*)+")
RGX_FIELDARGBARESTR = re.compile(r"[^\]\[\"' \t\n\r\f\v]+")
RGX_HEXNUM = re.compile(r"0[xX][0-9a-fA-F]+")
RGX_NUMBER = re.compile(r"[+\-]?[0-9]+\.?[0-9]*([eE][+\-][0-9]+)?")
RGX_BARESTR = re.compile(r"[^()\"' \t\n\r\f\v=,]+")

UNARY_OPS = ("exists",)
NUM_OPS = ("<=", "<", ">=", ">")
# a trailing space: the operator needs a blank after it
STR_OPS = (
    "==",
    "=",
    "!=",
    "glob ",
    "iglob ",
    "contains ",
    "icontains ",
    "bcontains ",
    "startswith ",
    "bstartswith ",
    "endswith ",
    "regex ",
)
STR_MODIFIERS = ("oneof ", "anyof ", "allof ")
LIST_OPS = ("intersects", "in", "pmatch")
TRANSFORMER_VAL = "val("
TRANSFORMERS = ("tolower(", "toupper(", "b64(", "basename(", "len(", "join(", "concat(", "getopt(")
BLANKS = " \t\b\r\n"


class ParseError(Exception):
    """A filter that does not parse; the message is libsinsp's."""


def supported_operators() -> list[str]:
    return [op.strip() for op in (*UNARY_OPS, *NUM_OPS, *STR_OPS, *LIST_OPS)]


def _quoted(items: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"'{v}'" for v in items)


def transformer_names() -> list[str]:
    return [t[:-1] for t in (TRANSFORMER_VAL, *TRANSFORMERS)]


@dataclass
class Pos:
    idx: int = 0
    line: int = 1
    col: int = 1

    def text(self) -> str:
        return f"index {self.idx}, line {self.line}, column {self.col}"


@dataclass
class FieldExpr:
    name: str
    arg: str | None
    pos: Pos


@dataclass
class Transformer:
    name: str  # "val", "tolower", ...
    args: list[object]
    pos: Pos


@dataclass
class ValueExpr:
    value: str
    pos: Pos


@dataclass
class ListExpr:
    values: list[str]
    pos: Pos


@dataclass
class Check:
    left: FieldExpr | Transformer
    op: str  # "=", "in", "exists", "= anyof", ...
    right: ValueExpr | ListExpr | Transformer | FieldExpr | None
    pos: Pos


@dataclass
class BoolExpr:
    kind: str  # "and", "or", "not"
    children: list[object] = field(default_factory=list)


@dataclass
class Identifier:
    name: str
    pos: Pos


def unescape(quoted: str) -> str:
    """A quoted string's text (libsinsp's filter/escaping.cpp)."""
    out: list[str] = []
    body, delim = quoted[1:-1], quoted[0]
    i, n = 0, len(body)
    simple = {
        "b": "\b",
        "f": "\f",
        "n": "\n",
        "r": "\r",
        "t": "\t",
        " ": "\\",
        "\\": "\\",
        "/": "/",
    }
    while i < n:
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        i += 1
        if i >= n:
            break
        c = body[i]
        if c in simple:
            out.append(simple[c])
        elif c in "\"'":
            if c != delim:
                other = "'-quoted" if delim == "'" else '"-quoted'
                raise ParseError(f"invalid \\{c} escape in {other} string")
            out.append(c)
        elif c == "x":
            if i + 2 >= n:
                raise ParseError("truncated hex char escape sequence")
            digits = body[i + 1 : i + 3]
            if not re.fullmatch(r"[0-9a-fA-F]{2}", digits):
                raise ParseError(f"invalid hex char escape sequence: {digits}")
            byte = int(digits, 16)  # a raw byte: surrogate-escaped when it is not ASCII
            out.append(chr(byte) if byte < 0x80 else chr(0xDC00 + byte))
            i += 2
        else:
            raise ParseError(f"unsupported string escape sequence: \\{c}")
        i += 1
    return "".join(out)


class Parser:
    """libsinsp's recursive descent over one filter string."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.pos = Pos()
        self.depth = 0
        self.last = ""

    # ---- cursor ----

    def _advance(self, token: str) -> None:
        for c in token:
            self.pos.col += 1
            if c in "\r\n":
                self.pos.col = 1
                self.pos.line += 1
            self.pos.idx += 1

    def _rest(self) -> str:
        return self.s[self.pos.idx :]

    def _save(self) -> tuple[Pos, str]:
        return Pos(self.pos.idx, self.pos.line, self.pos.col), self.last

    def _restore(self, saved: tuple[Pos, str]) -> None:
        self.pos, self.last = Pos(saved[0].idx, saved[0].line, saved[0].col), saved[1]

    def _here(self) -> Pos:
        return Pos(self.pos.idx, self.pos.line, self.pos.col)

    def blank(self) -> bool:
        found = False
        while self.pos.idx < len(self.s) and self.s[self.pos.idx] in BLANKS:
            self._advance(self.s[self.pos.idx])
            found = True
        return found

    def rgx(self, rx: re.Pattern[str]) -> bool:
        m = rx.match(self.s, self.pos.idx)
        if not m or not m.group(0):
            return False
        self.last = m.group(0)
        self._advance(self.last)
        return True

    def word(self, token: str) -> bool:
        if self.s.startswith(token, self.pos.idx):
            self.last = token
            self._advance(token)
            return True
        return False

    def any_word(self, tokens: tuple[str, ...]) -> bool:
        return any(self.word(t) for t in tokens)

    def operator(self, ops: tuple[str, ...]) -> bool:
        for op in ops:
            if not op.endswith(" "):
                if self.word(op):
                    return True
                continue
            saved = self._save()
            if self.word(op.strip()):
                if self.blank():
                    return True
                self._restore(saved)
        return False

    def quoted(self) -> bool:
        if self.pos.idx >= len(self.s) or self.s[self.pos.idx] not in "'\"":
            return False
        delim = self.s[self.pos.idx]
        saved = self._here()
        prev = "\\"
        token = ""
        while self.pos.idx < len(self.s) and self.s[self.pos.idx] != "\0":
            c = self.s[self.pos.idx]
            if c == delim and prev != "\\":
                self._advance(c)
                self.last = unescape(token + delim)
                return True
            prev = c
            token += c
            self._advance(c)
        self.pos = saved
        return False

    def _enter(self) -> None:
        self.depth += 1
        if self.depth >= MAX_DEPTH:
            raise ParseError(f"exceeded max depth limit of {MAX_DEPTH}")

    # ---- grammar ----

    def parse(self) -> object:
        if not self.s:
            raise ParseError("filter input string is empty")
        res = self.parse_or()
        if self.pos.idx != len(self.s):
            raise ParseError(f"unexpected token after '{self.last}', expecting 'or', 'and'")
        return res

    def _bool(self, kind: str, sub: str) -> object:
        self._enter()
        self.blank()
        children = [getattr(self, f"parse_{sub}")()]
        self.blank()
        while self.word(kind):
            if not self.blank():
                if self.word("("):
                    child = self.embedded()
                else:
                    raise ParseError(f"expected blank or '(' after '{kind}'")
            else:
                child = getattr(self, f"parse_{sub}")()
            children.append(child)
            self.blank()
        self.depth -= 1
        return children[0] if len(children) == 1 else BoolExpr(kind, children)

    def parse_or(self) -> object:
        return self._bool("or", "and")

    def parse_and(self) -> object:
        return self._bool("and", "not")

    def parse_not(self) -> object:
        self._enter()
        is_not = False
        self.blank()
        while self.rgx(RGX_NOTBLANK):
            is_not = not is_not
        if self.word("not("):
            is_not = not is_not
            child = self.embedded()
        else:
            child = self.parse_check()
        self.depth -= 1
        return BoolExpr("not", [child]) if is_not else child

    def embedded(self) -> object:
        self._enter()
        self.blank()
        child = self.parse_or()
        self.blank()
        if not self.word(")"):
            raise ParseError("expected a ')' token")
        self.depth -= 1
        return child

    def parse_check(self) -> object:
        self._enter()
        pos = self._here()
        self.blank()
        if self.word("("):
            res = self.embedded()
        elif self.rgx(RGX_FIELDNAME):
            res = self.condition(self.field_remainder(self.last, pos), pos)
        elif self.any_word(TRANSFORMERS):
            self.blank()
            left = self.transformer_remainder(self.last[:-1], pos)
            res = self.condition(left, pos)
        elif self.rgx(RGX_IDENTIFIER):
            res = Identifier(self.last, pos)
        else:
            raise ParseError("expected a '(' token, a field check, or an identifier")
        self.depth -= 1
        return res

    def field_remainder(self, name: str, pos: Pos) -> FieldExpr:
        return FieldExpr(name, self.optional_arg(), pos)

    def optional_arg(self) -> str | None:
        if not self.word("["):
            return None
        if not self.quoted() and not self.rgx(RGX_FIELDARGBARESTR):
            raise ParseError("expected a valid field argument: a quoted string or a bare string")
        arg = self.last
        if not self.word("]"):
            raise ParseError("expected a ']' token")
        return arg

    def transformer_remainder(self, name: str, pos: Pos) -> Transformer:
        self._enter()
        self.blank()
        args: list[object] = []
        while True:
            args.append(self.transformer_arg())
            self.blank()
            if not self.word(","):
                break
        self.blank()
        if not self.word(")"):
            raise ParseError("expected a ')' token closing the transformer")
        arg = self.optional_arg()
        self.depth -= 1
        return Transformer(name, args + ([ValueExpr(arg, pos)] if arg is not None else []), pos)

    def transformer_arg(self) -> object:
        self._enter()
        self.blank()
        pos = self._here()
        if self.rgx(RGX_HEXNUM) or self.rgx(RGX_NUMBER) or self.quoted():
            res: object = ValueExpr(self.last, pos)
        elif self.word("("):
            res = self.transformer_list(pos)
        elif self.any_word(TRANSFORMERS):
            res = self.transformer_remainder(self.last[:-1], pos)
        elif self.rgx(RGX_FIELDNAME):
            res = self.field_remainder(self.last, pos)
        else:
            raise ParseError(
                "expected field transformer argument: field, transformer, quoted string, "
                "number, or transformer list"
            )
        self.depth -= 1
        return res

    def transformer_list(self, pos: Pos) -> ListExpr:
        values: list[str] = []
        self.blank()
        if self.word(")"):
            return ListExpr(values, pos)
        while True:
            self.blank()
            if (
                self.rgx(RGX_FIELDNAME)
                or self.quoted()
                or self.rgx(RGX_HEXNUM)
                or self.rgx(RGX_NUMBER)
            ):
                values.append(self.last)
            else:
                raise ParseError(
                    "expected transformer list argument: field, transformer, quoted string, "
                    "or number"
                )
            self.blank()
            if not self.word(","):
                break
        if not self.word(")"):
            raise ParseError("expected ')'")
        return ListExpr(values, pos)

    def condition(self, left: FieldExpr | Transformer, pos: Pos) -> Check:
        self._enter()
        self.blank()
        if self.operator(UNARY_OPS):
            self.depth -= 1
            return Check(left, self.last.strip(), None, pos)
        self.blank()
        right: object
        if self.operator(NUM_OPS):
            op = self.last
            right = self.num_value()
        elif self.operator(STR_OPS):
            op = self.last
            had_blank = op[0].isalpha() or self.blank()
            saved = self._save()
            if (
                had_blank
                and self.operator(STR_MODIFIERS)
                and self.list_follows()
                and not self.bool_keyword_follows()
            ):
                op = f"{op.strip()} {self.last.strip()}"
                right = self.list_value(transformer=False)
            else:
                self._restore(saved)
                right = self.str_value(no_transformer=False)
        elif self.operator(LIST_OPS):
            op = self.last
            right = self.list_value(transformer=True)
        else:
            raise ParseError(
                f"expected a valid check operator: one of {_quoted(supported_operators())}"
            )
        self.depth -= 1
        return Check(left, op.strip(), right, pos)  # type: ignore[arg-type]

    def list_follows(self) -> bool:
        if self.s.startswith("(", self.pos.idx):
            return True
        saved = self._save()
        found = self.rgx(RGX_IDENTIFIER)
        self._restore(saved)
        return found

    def bool_keyword_follows(self) -> bool:
        rest = self._rest()
        for kw in ("and", "or", "not"):
            if rest.startswith(kw) and (len(rest) == len(kw) or not rest[len(kw)].isalnum()):
                return True
        return False

    def num_value(self) -> object:
        self._enter()
        self.blank()
        pos = self._here()
        res: object | None = self.transformer_or_val()
        if res is None:
            if self.rgx(RGX_HEXNUM) or self.rgx(RGX_NUMBER):
                res = ValueExpr(self.last, pos)
            else:
                raise ParseError(
                    "expected a number value or a field with a valid transformer: "
                    + _quoted(transformer_names())
                )
        self.depth -= 1
        return res

    def str_value(self, no_transformer: bool) -> object:
        self._enter()
        self.blank()
        pos = self._here()
        res: object | None = None if no_transformer else self.transformer_or_val()
        if res is None:
            if self.quoted() or self.rgx(RGX_BARESTR):
                res = ValueExpr(self.last, pos)
            elif no_transformer:
                raise ParseError("expected a string value")
            else:
                raise ParseError(
                    "expected a string value or a field with a valid transformer: "
                    + _quoted(transformer_names())
                )
        self.depth -= 1
        return res

    def try_list(self) -> ListExpr | None:
        pos = self._here()
        if not self.word("("):
            return None
        values: list[str] = []
        self.blank()
        try:
            first: object | None = self.str_value(no_transformer=True)
        except ParseError:
            first = None
        if first is not None:
            values.append(first.value)  # type: ignore[attr-defined]
            self.blank()
            while self.word(","):
                values.append(self.str_value(no_transformer=True).value)  # type: ignore[attr-defined]
                self.blank()
        if not self.word(")"):
            raise ParseError("expected a ')' token")
        return ListExpr(values, pos)

    def list_value(self, transformer: bool) -> object:
        self._enter()
        self.blank()
        pos = self._here()
        res: object | None = self.try_list()
        if res is None and transformer:
            res = self.transformer_or_val()
        if res is None:
            if self.rgx(RGX_IDENTIFIER):
                res = ValueExpr(self.last, pos)
            elif transformer:
                raise ParseError(
                    "expected a list, an identifier, or a field with a valid transformer: "
                    + _quoted(transformer_names())
                )
            else:
                raise ParseError("expected a list or an identifier")
        self.depth -= 1
        return res

    def transformer_or_val(self) -> Transformer | None:
        self._enter()
        self.blank()
        pos = self._here()
        res = None
        if self.word(TRANSFORMER_VAL):
            self.blank()
            field_pos = self._here()
            if not self.rgx(RGX_FIELDNAME):
                raise ParseError("expected a field within 'val' transformer")
            child = self.field_remainder(self.last, field_pos)
            self.blank()
            if not self.word(")"):
                raise ParseError("expected a ')' token closing the transformer")
            arg = self.optional_arg()
            res = Transformer("val", [child] + ([ValueExpr(arg, pos)] if arg else []), pos)
        elif self.any_word(TRANSFORMERS):
            self.blank()
            res = self.transformer_remainder(self.last[:-1], pos)
        self.depth -= 1
        return res


def parse(text: str) -> object:
    """The AST of a filter; ParseError carries libsinsp's "filter error at ..." message."""
    p = Parser(text)
    try:
        return p.parse()
    except ParseError as exc:
        raise ParseError(f"filter error at {p.pos.text()}: {exc}") from None
