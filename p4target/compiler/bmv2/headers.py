"""Header types, header instances, stacks, unions and scalars: where the program's storage lives in BMv2 JSON."""

from __future__ import annotations

from typing import Any

from .. import ast as A
from .. import types as T
from ..errors import P4Error
from ..semantics import BlockInfo
from .model import (
    JSON,
    Bound,
    Env,
    Field,
    Header,
    Stack,
    Struct,
    Union,
    UnionStack,
    bits,
    hexstr,
)


class Headers:
    """Storage layout, names and constants.
    Methods of `Builder` (program.py); they reach the others through `self`."""

    # -- names -----------------------------------------------------------------
    def unique(self, base: str) -> str:
        name, k = base, 0
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    # -- layout ----------------------------------------------------------------
    def header_type(self, ty: T.StructT, metadata: bool = False) -> str:
        if ty.name in self._types:
            return self._types[ty.name]
        fields, total = [], 0
        for fname, fty in ty.fields:
            if isinstance(fty, T.Varbit):
                fields.append([fname, "*"])
                total += 0
                continue
            w = bits(fty)
            signed = isinstance(fty, T.Bits) and fty.signed
            fields.append([fname, w, signed] if signed else [fname, w, False])
            total += w
        if metadata and total % 8:
            fields.append(["_padding", 8 - total % 8, False])
        jt: JSON = {"name": ty.name, "id": len(self.header_types), "fields": fields}
        var = [f for f in ty.fields if isinstance(f[1], T.Varbit)]
        if var:
            jt["max_length"] = (total + var[0][1].max_width) // 8
        self.header_types.append(jt)
        self._types[ty.name] = ty.name
        return ty.name

    def header_instance(self, name: str, ty: T.StructT, metadata: bool = False) -> Header:
        name = self.unique(name)
        self.headers.append(
            {
                "name": name,
                "id": len(self.headers),
                "header_type": self.header_type(ty, metadata),
                "metadata": metadata,
                "pi_omit": True,
            }
        )
        return Header(name, ty)

    def scalar(self, name: str, ty: T.Ty) -> Field:
        name = self.unique("scalars." + name)[len("scalars.") :]
        if isinstance(ty, T.InfInt):
            raise P4Error(None, f"'{name}' needs a type with a width")
        w = bits(ty)
        signed = isinstance(ty, T.Bits) and ty.signed
        self.scalars.append([name, w, signed])
        return Field("scalars", name, ty)

    def layout(self, ty: T.Ty, path: str, metadata: bool) -> Any:
        """Storage for a value of type `ty` named `path`."""
        match ty:
            case T.StructT(kind="header"):
                # A header is never metadata, even as a local or in the metadata struct: BMv2
                # keeps no validity for metadata (a local header compared unequal to its copy).
                return self.header_instance(path, ty, False)
            case T.StructT(kind="struct"):
                return Struct(
                    {f: self.layout(ft, f"{path}.{f}" if path else f, metadata) for f, ft in ty.fields}, ty
                )
            case T.StructT(kind="header_union"):
                return self.union_instance(path, ty)
            case T.TupleT(items=items):  # laid out as a struct with members "0", "1", …
                fields = tuple((str(k), it) for k, it in enumerate(items))
                st = T.StructT("struct", str(ty), fields)
                return Struct({f: self.layout(ft, f"{path}.{f}", metadata) for f, ft in fields}, st)
            case T.StackT(elem=T.StructT(kind="header_union") as elem, size=n):
                unions = [self.union_instance(f"{path}[{i}]", elem) for i in range(n)]
                name = self.unique(path)
                ids = [next(u["id"] for u in self.unions if u["name"] == x.name) for x in unions]
                self.union_stacks.append({"name": name, "id": len(self.union_stacks), "union_type": elem.name,
                                          "header_union_ids": ids})  # fmt: skip
                return UnionStack(name, ty, unions)
            case T.StackT(elem=elem, size=n):
                insts = [self.header_instance(f"{path}[{i}]", elem) for i in range(n)]
                name = self.unique(path)
                self.stacks.append(
                    {
                        "name": name,
                        "id": len(self.stacks),
                        "header_type": self.header_type(elem),
                        "header_ids": [
                            next(h["id"] for h in self.headers if h["name"] == i.inst) for i in insts
                        ],
                    }
                )
                return Stack(name, ty)
        return self.scalar(path, ty)

    def union_instance(self, path: str, ty: T.StructT) -> Union:
        members = {}
        for m, mty in ty.fields:
            if not (isinstance(mty, T.StructT) and mty.kind == "header"):
                raise P4Error(None, f"header union {ty.name}: member '{m}' is not a header")
            members[m] = self.header_instance(f"{path}.{m}", mty)
        if not any(u["name"] == ty.name for u in self.union_types):
            self.union_types.append({
                "name": ty.name, "id": len(self.union_types),
                "headers": [[m, self.header_type(mty)] for m, mty in ty.fields]})  # fmt: skip
        name = self.unique(path)
        ids = [next(h["id"] for h in self.headers if h["name"] == x.inst) for x in members.values()]
        self.unions.append(
            {"name": name, "id": len(self.unions), "union_type": ty.name, "header_ids": ids, "pi_omit": True}
        )
        return Union(name, members, ty)

    def finish_scalars(self) -> None:
        total = sum(f[1] for f in self.scalars)
        if total % 8:
            self.scalars.append(["_padding_0", 8 - total % 8, False])

    # -- constants ---------------------------------------------------------------
    def enum_value(self, ty: T.EnumT, member: str) -> int:
        if ty.underlying is not None:
            return ty.values[ty.members.index(member)]
        return ty.members.index(member)

    def const_json(self, v: Any, at: A.Expr) -> JSON:
        if isinstance(v, bool):
            return {"type": "bool", "value": v}
        if isinstance(v, int):
            return hexstr(v)
        if isinstance(v, tuple) and v[0] == "error":
            return hexstr(self.errors[v[1]])
        if isinstance(v, tuple):
            return hexstr(self.enum_value(self.prog.named(v[0], at), v[1]))
        raise P4Error(at.loc, f"cannot use {v!r} here")

    # -- block environments --------------------------------------------------------
    def roots(self) -> None:
        """Storage shared by all six blocks: headers, user metadata, standard metadata."""
        parser = self.prog.blocks["parser"].decl
        if len(parser.params) != 4:
            raise P4Error(
                parser.loc, "a v1model parser takes (packet_in, out H, inout M, inout standard_metadata_t)"
            )
        self.h_ty = self.prog.resolve(parser.params[1].type)
        self.m_ty = self.prog.resolve(parser.params[2].type)
        self.sm_ty = self.prog.named("standard_metadata_t", parser.params[3].type)
        if not isinstance(self.h_ty, T.StructT) or not isinstance(self.m_ty, T.StructT):
            raise P4Error(parser.loc, "the parser's headers and metadata must be structs")
        self.hdr = self.layout(self.h_ty, "", metadata=False)
        self.meta = (
            self.layout(self.m_ty, "meta", metadata=True) if self.m_ty.fields else Struct({}, self.m_ty)
        )
        self.sm = self.header_instance("standard_metadata", self.sm_ty, metadata=True)
        self._envs: dict[str, Env] = {}

    def block_env(self, b: BlockInfo) -> Env:
        if b.name in self._envs:
            return self._envs[b.name]
        env = Env({}, None, b)
        for p in b.decl.params:
            ty = self.prog.resolve(p.type)
            if ty is self.h_ty:
                env.names[p.name] = self.hdr
            elif ty is self.m_ty:
                env.names[p.name] = self.meta
            elif ty is self.sm_ty:
                env.names[p.name] = self.sm
            elif isinstance(ty, T.ExternT) and ty.name in ("packet_in", "packet_out"):
                env.names[p.name] = ("packet", ty.name)
            elif b.role != "sub":
                raise P4Error(p.loc, f"unexpected parameter {p.name} of type {ty} in {b.name}")
        for d in b.decl.locals:
            if isinstance(d, A.VarDecl):
                env.names[d.name] = self.layout(
                    self.prog.resolve(d.type), f"{b.name}.{d.name}", metadata=True
                )
            elif isinstance(d, A.ConstDecl):
                env.names[d.name] = Bound(d.value, env)
            elif isinstance(d, A.Instantiation) and d.name in b.instances:
                env.names[d.name] = b.instances[d.name]
            elif isinstance(d, A.ValueSetDecl):
                env.names[d.name] = ("value_set", b.value_sets[d.name][0])
        self._envs[b.name] = env
        return env
