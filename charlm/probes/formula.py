"""SyntaxGym prediction formulas: parse once, check the names, evaluate per item.

Grammar (pyparsing), loosest binding last:

    atom     region "(N;%condition%)" | "(*;%condition%)" | number (12, 0.5, 1e-3) | "(" expr ")"
    level 1  + -        left to right, numbers → number
    level 2  < > =      numbers → truth value
    level 3  & |        truth values → truth value, left to right

`(*;%c%)` is the sum of every region of condition `c` in the item (SyntaxGym's meaning, whatever
the suite's metric). `a = b` holds when |a − b| ≤ 1e-3 + 1e-5·|b| (numpy.isclose with SyntaxGym's
tolerances). Types are checked when parsing: `(1;%a%) + ((2;%a%) > 3)` and a formula that is a
number rather than a truth value are errors, so nothing fails halfway through a suite.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyparsing as pp

EQUAL_RTOL = 1e-5
EQUAL_ATOL = 1e-3
ALL_REGIONS = "*"


class FormulaError(ValueError):
    """A formula that does not parse or mixes numbers and truth values; the text says where."""


@dataclass(frozen=True)
class Region:
    number: int | str  # a region number, or ALL_REGIONS
    condition: str
    returns = "number"

    def evaluate(self, values: dict) -> float:
        if self.number == ALL_REGIONS:
            return sum(v for (c, _), v in values.items() if c == self.condition)
        return values[self.condition, self.number]

    def regions(self):
        yield self

    def __str__(self):
        return f"({self.number};%{self.condition}%)"


@dataclass(frozen=True)
class Number:
    value: float
    returns = "number"

    def evaluate(self, values: dict) -> float:
        return self.value

    def regions(self):
        return iter(())

    def __str__(self):
        return f"{self.value:g}"


def _equal(a: float, b: float) -> bool:
    return abs(a - b) <= EQUAL_ATOL + EQUAL_RTOL * abs(b)


_OPERATORS = {  # symbol → (operand type, result type, function)
    "+": ("number", "number", lambda a, b: a + b),
    "-": ("number", "number", lambda a, b: a - b),
    "<": ("number", "truth", lambda a, b: a < b),
    ">": ("number", "truth", lambda a, b: a > b),
    "=": ("number", "truth", _equal),
    "&": ("truth", "truth", lambda a, b: a and b),
    "|": ("truth", "truth", lambda a, b: a or b),
}


@dataclass(frozen=True)
class BinaryOp:
    op: str
    left: object
    right: object

    @property
    def returns(self) -> str:
        return _OPERATORS[self.op][1]

    def evaluate(self, values: dict):
        value = _OPERATORS[self.op][2](self.left.evaluate(values), self.right.evaluate(values))
        return bool(value) if self.returns == "truth" else value

    def regions(self):
        yield from self.left.regions()
        yield from self.right.regions()

    def __str__(self):
        return f"({self.left} {self.op} {self.right})"


def _fold(tokens):
    """[a, op, b, op, c] (one precedence level) → ((a op b) op c), checking operand types."""
    node = tokens[0]
    for op, right in zip(tokens[1::2], tokens[2::2]):
        wanted = _OPERATORS[op][0]
        for side in (node, right):
            if side.returns != wanted:
                raise pp.ParseFatalException(
                    f"'{op}' needs {'numbers' if wanted == 'number' else 'truth values'} on "
                    f"both sides, but {side} is a {side.returns.replace('truth', 'truth value')}")
        node = BinaryOp(op, node, right)
    return node


def _grammar() -> pp.ParserElement:
    """One rule per precedence level, each `operand (op operand)*` folded left to right; no
    alternative at one level re-parses another, so the time grows with the formula's length,
    not with its nesting (pyparsing's infix_notation backtracks without a global packrat cache)."""
    region = pp.Regex(r"\(\s*(?P<number>\d+|\*)\s*;\s*%(?P<condition>[^%()]+)%\s*\)")
    region.set_parse_action(lambda t: Region(
        ALL_REGIONS if t.number == ALL_REGIONS else int(t.number), t.condition.strip()))
    number = pp.Regex(r"(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?").set_parse_action(
        lambda t: Number(float(t[0])))
    truth = pp.Forward()
    atom = (region | number | pp.Suppress("(") + truth + pp.Suppress(")")).set_name(
        "a region (N;%condition%), a number or a parenthesis")
    arithmetic = (atom + (pp.one_of("+ -") + atom)[...]).set_parse_action(_fold)
    comparison = (arithmetic + (pp.one_of("< > =") + arithmetic)[...]).set_parse_action(_fold)
    truth <<= (comparison + (pp.one_of("& |") + comparison)[...]).set_parse_action(_fold)
    return truth


_GRAMMAR = _grammar()


def parse(text: str):
    """The formula's tree (Region, Number, BinaryOp), or FormulaError saying where it fails."""
    try:
        tree = _GRAMMAR.parse_string(text, parse_all=True)[0]
    except pp.ParseFatalException as e:
        raise FormulaError(e.msg) from None
    except pp.ParseException as e:
        found = repr(text[e.loc:e.loc + 12]) if e.loc < len(text) else "the end"
        raise FormulaError(f"does not parse at column {e.col} (found {found}; expected a region "
                           "(N;%condition%), a number, an operator + - < > = & | or a "
                           "parenthesis)") from None
    if tree.returns != "truth":
        raise FormulaError(f"{tree} is a number, not a comparison; write e.g. "
                           "(2;%mismatch%) > (2;%match%)")
    return tree
