"""Message classes built at run time from a .proto file, without protoc.

Why: the test server must encode with the `protobuf` package (an encoder lastbucket did not
write), but a protoc code-generation step would add a second dependency (grpcio-tools), a
cache directory and generated files that can go stale. Instead this module parses the small
subset of the proto3 language that agent_payload.proto uses into a FileDescriptorProto, and
lets the protobuf runtime build the classes from it. Nothing is generated on disk.

The subset: `syntax = "proto3";`, `package`, top-level and nested `message` and `enum`,
fields `[repeated|optional] TYPE NAME = NUMBER [ [options] ];`, `reserved` ranges and names,
`option` statements (ignored: none of them change the wire format here). Anything else
(`import`, `oneof`, `map<>`, `service`, `extend`, groups) is refused with the line it is on,
rather than half-understood.

Usage:
    classes = load("agent_payload.proto")
    MetricPayload = classes["datadog.agentpayload.MetricPayload"]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto

SCALARS = {
    "double": F.TYPE_DOUBLE,
    "float": F.TYPE_FLOAT,
    "int64": F.TYPE_INT64,
    "uint64": F.TYPE_UINT64,
    "int32": F.TYPE_INT32,
    "fixed64": F.TYPE_FIXED64,
    "fixed32": F.TYPE_FIXED32,
    "bool": F.TYPE_BOOL,
    "string": F.TYPE_STRING,
    "bytes": F.TYPE_BYTES,
    "uint32": F.TYPE_UINT32,
    "sfixed32": F.TYPE_SFIXED32,
    "sfixed64": F.TYPE_SFIXED64,
    "sint32": F.TYPE_SINT32,
    "sint64": F.TYPE_SINT64,
}

TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>"[^"\n]*"|'[^'\n]*')
  | (?P<number>-?\d+)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>[{}\[\]=;,()<>])
    """,
    re.VERBOSE | re.DOTALL,
)


class ProtoSyntaxError(ValueError):
    """The .proto text is outside the understood subset, or malformed."""


@dataclass
class Token:
    kind: str
    text: str
    line: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos, line = 0, 1
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if m is None:
            raise ProtoSyntaxError(f"line {line}: unexpected character {text[pos]!r}")
        kind = m.lastgroup or ""
        if kind not in ("space", "comment"):
            tokens.append(Token(kind, m.group(), line))
        line += m.group().count("\n")
        pos = m.end()
    return tokens


@dataclass
class Field:
    label: str  # "", "repeated" or "optional"
    type_name: str
    name: str
    number: int
    line: int


@dataclass
class Enum:
    name: str
    values: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Message:
    name: str
    fields: list[Field] = field(default_factory=list)
    messages: list["Message"] = field(default_factory=list)
    enums: list[Enum] = field(default_factory=list)
    reserved_ranges: list[tuple[int, int]] = field(default_factory=list)
    reserved_names: list[str] = field(default_factory=list)


class Parser:
    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.i = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self) -> Token:
        tok = self.peek()
        if tok is None:
            last = self.tokens[-1].line if self.tokens else 1
            raise ProtoSyntaxError(f"line {last}: unexpected end of file")
        self.i += 1
        return tok

    def expect(self, text: str) -> Token:
        tok = self.next()
        if tok.text != text:
            raise ProtoSyntaxError(f"line {tok.line}: expected {text!r}, found {tok.text!r}")
        return tok

    def ident(self) -> str:
        tok = self.next()
        if tok.kind != "ident":
            raise ProtoSyntaxError(f"line {tok.line}: expected a name, found {tok.text!r}")
        return tok.text

    def number(self) -> int:
        tok = self.next()
        if tok.kind != "number":
            raise ProtoSyntaxError(f"line {tok.line}: expected a number, found {tok.text!r}")
        return int(tok.text)

    def skip_statement(self) -> None:
        """Skips an `option ...;` statement (or a field's `[...]` options) to its end."""
        while self.next().text != ";":
            pass

    def file(self) -> tuple[str, list[Message], list[Enum]]:
        package = ""
        messages: list[Message] = []
        enums: list[Enum] = []
        while (tok := self.peek()) is not None:
            if tok.text == "syntax":
                self.next()
                self.expect("=")
                value = self.next()
                if value.text.strip("\"'") != "proto3":
                    raise ProtoSyntaxError(f"line {value.line}: only proto3 is understood")
                self.expect(";")
            elif tok.text == "package":
                self.next()
                package = self.ident()
                self.expect(";")
            elif tok.text == "option":
                self.skip_statement()
            elif tok.text == "message":
                messages.append(self.message())
            elif tok.text == "enum":
                enums.append(self.enum())
            else:
                raise ProtoSyntaxError(f"line {tok.line}: {tok.text!r} is not understood here")
        return package, messages, enums

    def message(self) -> Message:
        self.expect("message")
        msg = Message(self.ident())
        self.expect("{")
        while (tok := self.peek()) is not None and tok.text != "}":
            if tok.text == "message":
                msg.messages.append(self.message())
            elif tok.text == "enum":
                msg.enums.append(self.enum())
            elif tok.text == "option":
                self.skip_statement()
            elif tok.text == "reserved":
                self.reserved(msg)
            elif tok.text in ("oneof", "map", "extend", "extensions", "group", "required"):
                raise ProtoSyntaxError(f"line {tok.line}: {tok.text!r} is not understood")
            else:
                msg.fields.append(self.field())
        self.expect("}")
        return msg

    def reserved(self, msg: Message) -> None:
        self.expect("reserved")
        while True:
            tok = self.next()
            if tok.kind == "string":
                msg.reserved_names.append(tok.text.strip("\"'"))
            elif tok.kind == "number":
                start = end = int(tok.text)
                if (nxt := self.peek()) is not None and nxt.text == "to":
                    self.next()
                    end = self.number()
                msg.reserved_ranges.append((start, end))
            else:
                raise ProtoSyntaxError(f"line {tok.line}: bad reserved entry {tok.text!r}")
            sep = self.next()
            if sep.text == ";":
                return
            if sep.text != ",":
                raise ProtoSyntaxError(f"line {sep.line}: expected ',' or ';'")

    def field(self) -> Field:
        first = self.peek()
        line = first.line if first else 0
        label = ""
        if first is not None and first.text in ("repeated", "optional"):
            label = self.next().text
        type_name = self.ident()
        name = self.ident()
        self.expect("=")
        number = self.number()
        if self.next().text == "[":
            # Field options such as `[deprecated = true]`: none used here changes encoding.
            self.skip_statement()
        elif self.tokens[self.i - 1].text != ";":
            raise ProtoSyntaxError(f"line {line}: expected ';' after field {name}")
        return Field(label, type_name, name, number, line)

    def enum(self) -> Enum:
        self.expect("enum")
        en = Enum(self.ident())
        self.expect("{")
        while (tok := self.peek()) is not None and tok.text != "}":
            if tok.text == "option":
                self.skip_statement()
                continue
            name = self.ident()
            self.expect("=")
            en.values.append((name, self.number()))
            self.expect(";")
        self.expect("}")
        return en


def _collect(scope: str, messages: list[Message], enums: list[Enum], kinds: dict) -> None:
    """Full name -> "message" or "enum", for every type declared in the file."""
    for en in enums:
        kinds[f"{scope}.{en.name}"] = "enum"
    for msg in messages:
        full = f"{scope}.{msg.name}"
        kinds[full] = "message"
        _collect(full, msg.messages, msg.enums, kinds)


def _resolve(scope: str, name: str, kinds: dict, line: int) -> str:
    """Proto's scoping rule: look the name up from the innermost scope outwards."""
    if name.startswith("."):
        if name in kinds:
            return name
    else:
        parts = scope.split(".")
        while parts:
            candidate = ".".join(parts + [name])
            if candidate in kinds:
                return candidate
            parts.pop()
        if f".{name}" in kinds:
            return f".{name}"
    raise ProtoSyntaxError(f"line {line}: unknown type {name!r}")


def _build_message(scope: str, msg: Message, kinds: dict) -> descriptor_pb2.DescriptorProto:
    full = f"{scope}.{msg.name}"
    out = descriptor_pb2.DescriptorProto(name=msg.name)
    for f in msg.fields:
        fd = out.field.add(name=f.name, number=f.number, json_name=_json_name(f.name))
        fd.label = F.LABEL_REPEATED if f.label == "repeated" else F.LABEL_OPTIONAL
        if f.type_name in SCALARS:
            fd.type = SCALARS[f.type_name]
        else:
            target = _resolve(full, f.type_name, kinds, f.line)
            fd.type_name = target
            fd.type = F.TYPE_ENUM if kinds[target] == "enum" else F.TYPE_MESSAGE
        if f.label == "optional":
            fd.proto3_optional = True
    for nested in msg.messages:
        out.nested_type.append(_build_message(full, nested, kinds))
    for en in msg.enums:
        out.enum_type.append(_build_enum(en))
    for start, end in msg.reserved_ranges:
        out.reserved_range.add(start=start, end=end + 1)  # the descriptor's end is exclusive
    out.reserved_name.extend(msg.reserved_names)
    # proto3 `optional` fields each live in a synthetic oneof, which the descriptor must name.
    for fd in out.field:
        if fd.proto3_optional:
            fd.oneof_index = len(out.oneof_decl)
            out.oneof_decl.add(name=f"_{fd.name}")
    return out


def _build_enum(en: Enum) -> descriptor_pb2.EnumDescriptorProto:
    out = descriptor_pb2.EnumDescriptorProto(name=en.name)
    for name, number in en.values:
        out.value.add(name=name, number=number)
    return out


def _json_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def file_descriptor(path: str | Path) -> descriptor_pb2.FileDescriptorProto:
    path = Path(path)
    try:
        package, messages, enums = Parser(tokenize(path.read_text(encoding="utf-8"))).file()
    except ProtoSyntaxError as err:
        raise ProtoSyntaxError(f"{path}: {err}") from None
    kinds: dict[str, str] = {}
    scope = f".{package}" if package else ""
    _collect(scope, messages, enums, kinds)
    fdp = descriptor_pb2.FileDescriptorProto(name=path.name, package=package, syntax="proto3")
    for msg in messages:
        fdp.message_type.append(_build_message(scope, msg, kinds))
    for en in enums:
        fdp.enum_type.append(_build_enum(en))
    return fdp


def load(path: str | Path) -> dict[str, type]:
    """Every message class of the file, by full name (without the leading dot)."""
    fdp = file_descriptor(path)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    file_desc = pool.FindFileByName(fdp.name)
    classes: dict[str, type] = {}

    def walk(descs) -> None:
        for desc in descs:
            classes[desc.full_name] = message_factory.GetMessageClass(desc)
            walk(desc.nested_types)

    walk(file_desc.message_types_by_name.values())
    return classes
