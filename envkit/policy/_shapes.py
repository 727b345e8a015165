"""What Pulumi's mocks answer for a registered resource, shaped as the provider answers.

Loaded by path into the runner (envkit/policy/_runner.py), in the project's interpreter,
so it needs only the standard library and ``pulumi``.

Pulumi's SDK checks every output against the type its resource class declares
(``pulumi._types.resource_types``, which the generated SDKs build from the provider's
schema; ``rpc.translate_output_properties`` raises "Unexpected type" on a mismatch). An
echo of the inputs therefore breaks programs whose input and output types differ
(``iam.Policy(policy=<dict>)`` declares ``policy: str``; ``awsx.ec2.Vpc(nat_gateways=
{...})`` declares ``nat_gateways: Sequence[NatGateway]``). Here an output gets:

- the input's value where that value passes the SDK's own check for the output's declared
  type (the same function, from the SDK the program runs on);
- the input as JSON text where the output is a string and the input a document (the
  provider stores a policy given as an object as its JSON);
- for the properties the provider computes, a deterministic placeholder of the declared
  type: ``arn`` an ARN from the type, the name, account 123456789012 and the region;
  ``name`` the name Pulumi's autonaming would give (name-<7 hex>); ``...Id`` an id
  (``vpc-<hex>``; ``ownerId``/``accountId`` the account); the resource's id (IAM: its
  name; elsewhere ``<prefix>-<hex>``);
- otherwise nothing, so the SDK resolves the output as unknown, as in a preview.

Each placeholder is remembered with what it stands for, so a finding on a resource whose
inputs carry one can say that it depends on a value envkit assigned.

:class:`Unknowns` shapes the answers to lookups that cannot be answered offline: unknown
values of the lookup's declared result type, traced to the resources they reach.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
from typing import Any

ACCOUNT = "123456789012"
#: Services whose ARNs carry no region (and S3's no account either).
_GLOBAL = {"iam", "s3", "cloudfront", "route53", "organizations", "waf", "shield",
           "globalaccelerator"}
_NAME_IDS = {"iam"}  # services whose resources' ids are their names
_ACCOUNT_KEYS = {"ownerId", "accountId"}
# The tails of generated names (``-<7 hex>``) and ids (``-0<16 hex>``).
_HEX_TAIL = re.compile(r"-0?([0-9a-f]{16}|[0-9a-f]{7})$")
_HEX_IN = re.compile(r"-(?=[0-9a-f]{7})")
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z]|$)|[A-Z]?[a-z0-9]+|[A-Z]+")


def _words(name: str) -> list[str]:
    return [w.lower() for w in _WORDS.findall(name)]


class Shaper:
    """Answers ``new_resource`` for the mocks; remembers the placeholders it hands out."""

    def __init__(self, region: str, unknown: str) -> None:
        self.region = region
        self.unknown = unknown
        self.classes: dict[str, type] = {}
        self.placeholders: dict[str, str] = {}
        self._types: dict[type, dict[str, Any] | None] = {}
        self._pattern: Any = None

    def note_class(self, token: str, resource: Any) -> None:
        """Remember the class a type token was declared with (as its constructor runs),
        and read its output types now, on the program's thread.

        The answers run on the mock monitor's executor threads; reading type hints there
        would import the provider SDK's lazily loaded modules (importlib.util.LazyLoader)
        while the program's thread may be loading the same one, and on Python before 3.12
        one of them then sees it half made ("module 'pulumi_aws.autoscaling' has no
        attribute 'Group'", CPython gh-114763). Under the engine no such work runs off the
        program's thread. So every hint an answer needs (the class's outputs and the output
        types nested in them) is read here first, once per class."""
        self.note_type(token, type(resource))

    def note_type(self, token: str, cls: type) -> None:
        """Remember the class that declares ``token`` (see :meth:`note_class`)."""
        if token in self.classes:
            return
        self.classes[token] = cls
        declared = self._declared(token)
        if declared:
            self._read_nested(list(declared.values()), set())

    def _read_nested(self, types: list[Any], seen: set[Any]) -> None:
        from pulumi import _types

        while types:
            typ = types.pop()
            if typ in seen:
                continue
            try:
                seen.add(typ)
                args = getattr(typ, "__args__", None) or ()
                types.extend(args)
                if _types.is_output_type(typ):
                    types.extend(_types.output_type_types(typ).values())
            except Exception:  # noqa: BLE001 - an unreadable hint: the answer echoes it
                continue

    def _declared(self, token: str) -> dict[str, Any] | None:
        cls = self.classes.get(token)
        if cls is None:
            return None
        if cls not in self._types:
            from pulumi import _types

            try:
                self._types[cls] = _types.resource_types(cls)
            except Exception:  # noqa: BLE001 - a class without usable hints: echo as before
                self._types[cls] = None
        return self._types[cls]

    def _hex(self, urn: str, what: str, length: int) -> str:
        return hashlib.sha256(f"{urn}\0{what}".encode()).hexdigest()[:length]

    def _remember(self, value: str, what: str) -> str:
        self.placeholders.setdefault(value, what)
        self._pattern = None
        return value

    def answer(self, token: str, name: str, urn: str, inputs: dict[str, Any], custom: bool,
               region: str | None) -> tuple[str, dict[str, Any]]:
        """(id, state) for one registration, as the provider would answer it."""
        region = region or self.region
        parts = token.split(":")
        module = parts[1].split("/")[0] if len(parts) == 3 else ""
        kind = parts[2] if len(parts) == 3 else token
        who = f"{name} ({token})"
        state = dict(inputs)
        declared = self._declared(token)
        if declared is not None:
            from pulumi.runtime import rpc

            for key, typ in declared.items():
                if key not in inputs or inputs[key] is None:
                    continue
                value = inputs[key]
                try:
                    rpc.translate_output_properties(value, lambda n: n, typ)
                    continue
                except Exception:  # noqa: BLE001 - the SDK's own verdict: not this type
                    pass
                if typ is str and isinstance(value, (dict, list)) and \
                        self.unknown not in json.dumps(value):
                    state[key] = json.dumps(value)
                else:
                    del state[key]  # unknown, as the provider's value would be in a preview
        physical = inputs.get("name") if isinstance(inputs.get("name"), str) else None
        if physical is None:
            physical = self._remember(f"{name}-{self._hex(urn, 'name', 7)}",
                                      f"the generated name of {who}")
        words = _words(kind)
        prefix = "".join(w[0] for w in words) if len(words) > 1 else (words or ["id"])[0]
        if module in _NAME_IDS:
            ident = physical
        else:
            ident = self._remember(f"{prefix}-0{self._hex(urn, 'id', 16)}", f"the id of {who}")
        if declared is not None:
            for key, typ in declared.items():
                # A component's SDK sends the outputs its plugin computes as unknown inputs.
                known = state.get(key) is not None and (custom or state[key] != self.unknown)
                if known or typ is not str:
                    continue
                if key == "arn":
                    # A value cut out of the ARN (its account) still stands in for one.
                    self._remember(ACCOUNT, "the account id envkit assigned (123456789012)")
                    state[key] = self._remember(self._arn(module, words, physical, ident,
                                                          inputs, region),
                                                f"the ARN of {who}")
                elif key == "name":
                    state[key] = physical
                elif key in _ACCOUNT_KEYS:
                    state[key] = self._remember(ACCOUNT, "the account id envkit assigned "
                                                "(123456789012)")
                elif key.endswith("Id") and len(key) > 2:
                    id_words = _words(key[:-2])
                    short = "".join(w[0] for w in id_words) if len(id_words) > 1 \
                        else id_words[0]
                    state[key] = self._remember(f"{short}-0{self._hex(urn, key, 16)}",
                                                f"{key} of {who}")
        return (ident if custom else ""), state

    def _arn(self, service: str, words: list[str], physical: str, ident: str,
             inputs: dict[str, Any], region: str) -> str:
        resource = "-".join(words)
        if service == "s3":
            return f"arn:aws:s3:::{physical}"
        where = "" if service in _GLOBAL else region
        if service == "iam":
            path = inputs.get("path") if isinstance(inputs.get("path"), str) else "/"
            return f"arn:aws:iam::{ACCOUNT}:{resource}{path or '/'}{physical}"
        tail = ident if service == "ec2" else physical
        return f"arn:aws:{service}:{where}:{ACCOUNT}:{resource}/{tail}"

    def found_in(self, value: Any) -> list[list[str]]:
        """The placeholders inside ``value`` (wire-form inputs): [value, what it stands
        for] pairs. Scanned as one pass of the longest placeholder at each place would (an
        ARN, not the name and account inside it), through an index rather than one regular
        expression of every placeholder, whose compiling alone grows with the program."""
        if not self.placeholders:
            return []
        if self._pattern is None:
            self._pattern = self._index()
        arns, by_hex = self._pattern
        found: dict[str, str] = {}
        todo = [value]
        while todo:
            item = todo.pop()
            if isinstance(item, str):
                for match in self._matches(item, arns, by_hex):
                    found[match] = self.placeholders[match]
            elif isinstance(item, dict):
                todo.extend(item.values())
            elif isinstance(item, list):
                todo.extend(item)
        return [[k, v] for k, v in found.items()]

    def _index(self) -> tuple[dict[int, set[str]], dict[str, list[str]]]:
        arns: dict[int, set[str]] = {}
        by_hex: dict[str, list[str]] = {}
        for key in self.placeholders:
            if key.startswith("arn:"):
                arns.setdefault(len(key), set()).add(key)
            else:
                match = _HEX_TAIL.search(key)
                if match:
                    by_hex.setdefault(match.group(1), []).append(key)
        return ({n: arns[n] for n in sorted(arns, reverse=True)}, by_hex)

    def _matches(self, text: str, arns: dict[int, set[str]], by_hex: dict[str, list[str]]
                 ) -> list[str]:
        spans: list[tuple[int, int, str]] = []
        at = text.find("arn:")
        while at >= 0 and arns:
            for length, keys in arns.items():
                if text[at:at + length] in keys:
                    spans.append((at, at + length, text[at:at + length]))
                    at += length - 1
                    break
            at = text.find("arn:", at + 1)

        def free(begin: int, end: int) -> bool:
            return not any(b < end and begin < e for b, e, _ in spans)

        for match in _HEX_IN.finditer(text):
            dash = match.start()
            # An id's tail is "0" and 16 hex digits, a generated name's 7 hex digits.
            tails = [(text[dash + 2:dash + 18], 17)] if text.startswith("0", dash + 1) else []
            for digits, tail in [*tails, (text[dash + 1:dash + 8], 7)]:
                end = dash + 1 + tail
                key = next((k for k in by_hex.get(digits, ())
                            if text.startswith(k, end - len(k)) and end >= len(k)), None)
                if key and free(end - len(key), end):
                    spans.append((end - len(key), end, key))
                    break
        if ACCOUNT in self.placeholders:
            at = text.find(ACCOUNT)
            while at >= 0:
                if free(at, at + len(ACCOUNT)):
                    spans.append((at, at + len(ACCOUNT), ACCOUNT))
                at = text.find(ACCOUNT, at + len(ACCOUNT))
        return [key for _, _, key in sorted(spans)]


class Unknowns:
    """Placeholders for lookups that cannot be answered offline.

    A lookup's string results are marked with a value unique to it; wherever a marked
    string reaches a resource input, that resource depends on the lookup, and its input is
    reported to the policies as unknown (as a preview reports a value it cannot know yet).
    """

    def __init__(self, unknown: str) -> None:
        self.unknown = unknown  # pulumi.runtime.rpc.UNKNOWN
        self.nonce = secrets.token_hex(6)
        self.pattern = re.compile(f"envkit-unknown-{self.nonce}-([0-9]+)")
        self.tokens: list[str] = []

    def marker(self, token: str) -> str:
        self.tokens.append(token)
        return f"envkit-unknown-{self.nonce}-{len(self.tokens) - 1}"

    def found_in(self, value: Any) -> set[int]:
        found: set[int] = set()
        self._scan(value, found)
        return found

    def _scan(self, value: Any, found: set[int]) -> None:
        if isinstance(value, str):
            found.update(int(m) for m in self.pattern.findall(value))
        elif isinstance(value, dict):
            for k, v in value.items():
                self._scan(k, found)
                self._scan(v, found)
        elif isinstance(value, list):
            for v in value:
                self._scan(v, found)

    def scrub(self, value: Any, found: set[int]) -> Any:
        """``value`` with every marked string replaced by Pulumi's unknown sentinel."""
        if isinstance(value, str):
            hits = self.pattern.findall(value)
            if hits:
                found.update(int(h) for h in hits)
                return self.unknown
            return value
        if isinstance(value, dict):
            return {k: self.scrub(v, found) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v, found) for v in value]
        return value

    def shaped(self, typ: Any, marker: str, args: dict[str, Any], depth: int = 0
               ) -> dict[str, Any]:
        """A result of output type ``typ`` whose strings carry ``marker``; arguments the
        caller passed are echoed, as providers echo them."""
        from pulumi import _types

        try:
            fields = _types.output_type_types(typ)
        except Exception:  # noqa: BLE001 - no usable type information: no fields
            return {}
        out: dict[str, Any] = {}
        for name, field_type in fields.items():
            if name in args and args[name] is not None:
                out[name] = args[name]
            else:
                out[name] = self._value(field_type, marker, depth)
        return out

    def _value(self, field_type: Any, marker: str, depth: int) -> Any:
        import collections.abc
        import typing

        from pulumi import _types

        with contextlib.suppress(Exception):  # keep the type as declared
            field_type = _types.unwrap_optional_type(field_type)
        if field_type is str:
            return marker
        origin = typing.get_origin(field_type)
        if origin in (list, collections.abc.Sequence):
            inner = self._value((typing.get_args(field_type) or (None,))[0], marker, depth)
            return [] if inner is None else [inner]
        if origin in (dict, collections.abc.Mapping):
            return {}
        if depth < 3 and isinstance(field_type, type) and _types.is_output_type(field_type):
            return self.shaped(field_type, marker, {}, depth + 1)
        # Numbers and booleans cannot carry a marker; None passes the SDK's type checks.
        return None
