"""State tables: read and write tables owned by the host or other plugins, export your own.

Falco keeps process state in tables (``threads``, with a nested ``file_descriptors`` table
per thread); plugins can read them, add fields to them, and share tables of their own.

Importing, at init (the plugin's ``__init__`` takes a ``tables: TablesInit`` parameter)::

    class Thread(Entry):
        comm = Field(str)                       # an existing field
        pid = Field(Int64)
        seen = Field(UInt64, add=True)          # a field this plugin adds to the table
        fds = Field(Table(Fd), name="file_descriptors")

    self.threads = tables.import_table("threads", Int64, Thread)

then in extract or parse: ``thread = self.threads.get(event.tid)`` (None when absent) and
``thread.comm``; in parse also ``thread.seen = 1``. Entries are released by the SDK when the
call returns; using one later raises :class:`TableError` instead of touching freed memory.

Exporting: ``tables.export_table("mine", UInt64, MyEntry)`` with fields declared as
:class:`Public`, :class:`ReadOnly` or :class:`Private`; the returned :class:`ExportedTable`
is a dict-like store that other plugins and the host read and write through the API.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Any, ClassVar, Generic, Protocol, TypeVar


class StateType(IntEnum):
    """ss_plugin_state_type: the types of table keys and fields."""

    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    STRING = 9
    TABLE = 10
    BOOL = 25


Int8, Int16, Int32, Int64 = StateType.INT8, StateType.INT16, StateType.INT32, StateType.INT64
UInt8, UInt16, UInt32, UInt64 = (
    StateType.UINT8,
    StateType.UINT16,
    StateType.UINT32,
    StateType.UINT64,
)

_RANGES = {
    StateType.INT8: (-(2**7), 2**7 - 1),
    StateType.INT16: (-(2**15), 2**15 - 1),
    StateType.INT32: (-(2**31), 2**31 - 1),
    StateType.INT64: (-(2**63), 2**63 - 1),
    StateType.UINT8: (0, 2**8 - 1),
    StateType.UINT16: (0, 2**16 - 1),
    StateType.UINT32: (0, 2**32 - 1),
    StateType.UINT64: (0, 2**64 - 1),
}


class TableError(Exception):
    """A table operation the host refused, or one made outside the call that allows it."""


def type_name(kind: int) -> str:
    """A state type as plugin authors write it: int64, uint32, string, bool, table."""
    try:
        return StateType(kind).name.lower()
    except ValueError:
        return f"type {kind}"


def state_type(spec: Any) -> StateType:
    """The state type for a field/key spec: a StateType, ``str``, ``bool`` or a Table(...)."""
    if isinstance(spec, Table):
        return StateType.TABLE
    if isinstance(spec, StateType):
        return spec
    if spec is str:
        return StateType.STRING
    if spec is bool:
        return StateType.BOOL
    if spec is int:
        raise TypeError("give integer fields a width: Int8 .. Int64 or UInt8 .. UInt64")
    raise TypeError(f"not a table field type: {spec!r}")


def check_value(kind: StateType, value: Any, what: str) -> Any:
    """Check a value against a state type before it reaches the host."""
    if kind in _RANGES:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{what}: expected an int, got {type(value).__name__}")
        lo, hi = _RANGES[kind]
        if not lo <= value <= hi:
            raise ValueError(f"{what}: {value} does not fit {kind.name}")
    elif kind is StateType.STRING:
        if not isinstance(value, str) or "\x00" in value:
            raise TypeError(f"{what}: expected a str without NUL characters")
    elif kind is StateType.BOOL:
        if not isinstance(value, bool):
            raise TypeError(f"{what}: expected a bool, got {type(value).__name__}")
    else:
        raise TypeError(f"{what}: {kind.name} values cannot be written")
    return value


# ------------------------------------------------------------------------------ backend


class Backend(Protocol):
    """What the shim provides (ids instead of pointers; checked on every use)."""

    def list_tables(self) -> list[tuple[str, int]]:
        """The host's tables: (name, key type) pairs."""

    def get_table(self, name: str, key_type: int) -> int:
        """The id of a host table with that name and key type."""

    def list_fields(self, table: int) -> list[tuple[str, int, bool]]:
        """A table's fields: (name, type, read-only) triples."""

    def get_field(self, table: int, name: str, kind: int) -> int:
        """The id of a table's field."""

    def add_field(self, table: int, name: str, kind: int) -> int:
        """Add a field to a table; its id."""

    def table_size(self, table: int) -> int:
        """How many entries a table has."""

    def get_entry(self, table: int, key_type: int, key: Any) -> int | None:
        """The entry with that key, or None."""

    def read(self, table: int, entry: int, field: int, kind: int) -> Any:
        """Read a field of an entry."""

    def write(self, table: int, entry: int, field: int, kind: int, value: Any) -> None:
        """Write a field of an entry."""

    def release(self, table: int, entry: int) -> None:
        """Release an entry obtained from the table."""

    def iterate(self, table: int, fn: Callable[[int], bool]) -> bool:
        """Call ``fn`` on each entry until it returns False; False when stopped early."""

    def create_entry(self, table: int) -> int:
        """A new entry, not yet in the table."""

    def add_entry(self, table: int, key_type: int, key: Any, entry: int) -> int:
        """Put a new entry in the table under ``key``; the entry as stored."""

    def destroy_entry(self, table: int, entry: int) -> None:
        """Free an entry that was never added."""

    def erase(self, table: int, key_type: int, key: Any) -> None:
        """Remove the entry with that key."""

    def clear(self, table: int) -> None:
        """Remove every entry."""

    def add_table(self, table: Any, name: str, key_type: int) -> None:
        """Offer a table of this plugin to the host and other plugins."""


# ----------------------------------------------------------------------------- imports

E = TypeVar("E", bound="Entry")


class Table(Generic[E]):
    """The type of a nested-table field: ``Field(Table(Fd), name="file_descriptors")``."""

    def __init__(self, entry: type[E], key: StateType = StateType.INT64) -> None:
        self.entry = entry
        self.key = key


class Field:
    """A field of an imported table's entries, declared on an :class:`Entry` subclass.

    ``Field(spec)`` looks up an existing field named like the attribute (or ``name=``);
    ``add=True`` adds it to the table instead (other plugins and the host then see it too).
    """

    def __init__(self, spec: Any, *, name: str | None = None, add: bool = False) -> None:
        self.spec = spec
        self.kind = state_type(spec)
        self.code = int(self.kind)  # what the shim takes (a plain int is cheaper than the enum)
        self.is_table = self.kind is StateType.TABLE
        self.name = name
        self.add = add
        self.attr = ""

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr
        if self.name is None:
            self.name = attr

    def __get__(self, entry: Entry | None, owner: type) -> Any:
        if entry is None:
            return self
        if self.is_table:
            return entry._nested_table(self)
        t = entry._table  # the hot path: one backend call, nothing else
        return t._read(t._id, entry._handle, t._field_ids[self.attr], self.code)

    def __set__(self, entry: Entry, value: Any) -> None:
        entry._write(self, value)


class _EntryType(type):
    """The metaclass of :class:`Entry`: every entry class gets ``__slots__`` (``()`` unless
    it declares its own), so entries carry no instance ``__dict__`` and are cheap to make
    on every lookup."""

    def __new__(mcs, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> _EntryType:
        ns.setdefault("__slots__", ())
        return super().__new__(mcs, name, bases, ns)


_ENTRY_SLOTS = ("_table", "_handle", "key")


class Entry(metaclass=_EntryType):
    """Declares the fields a plugin uses from an imported table; instances are entries.

    An instance is only valid during the API call that produced it (extract, parse,
    capture open/close): the SDK releases it when the call returns. Entries hold only the
    fields their class declares: assigning any other attribute raises AttributeError (an
    entry class gets ``__slots__``; keep other per-thread state in a field the plugin adds
    with ``Field(..., add=True)``, or on the plugin object).
    """

    FIELDS: ClassVar[dict[str, Field]]
    __slots__ = _ENTRY_SLOTS
    _table: ImportedTable[Any]
    _handle: int
    key: Any

    def __init_subclass__(cls) -> None:
        cls.FIELDS = {
            name: value
            for klass in reversed(cls.__mro__)
            for name, value in vars(klass).items()
            if isinstance(value, Field)
        }

    def __init__(self, table: ImportedTable[Any], handle: int, key: Any = None) -> None:
        _set_slots(self, table, handle, key)

    def __setattr__(self, name: str, value: Any) -> None:
        f = type(self).FIELDS.get(name)
        if f is not None:
            f.__set__(self, value)
        elif name in _ENTRY_SLOTS or name in _own_slots(type(self)):
            object.__setattr__(self, name, value)
        else:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r}: an entry of an imported table "
                "holds only the Fields its class declares (add one with "
                f"{name} = Field(..., add=True), or keep the value on the plugin)"
            )

    def _nested_table(self, f: Field) -> ImportedTable[Any]:
        """The nested table a TABLE field holds, valid during the current call."""
        t = self._table
        table_id = t._read(t._id, self._handle, t._field_ids[f.attr], f.code)
        return t._nested[f.attr].bind(table_id)

    def _write(self, f: Field, value: Any) -> None:
        t = self._table
        check_value(f.kind, value, f"{type(self).__name__}.{f.attr}")
        t._backend.write(t._id, self._handle, t._field_ids[f.attr], f.kind, value)

    def release(self) -> None:
        """Give the entry back now (it is released at the end of the call otherwise)."""
        self._table._backend.release(self._table._id, self._handle)

    def __enter__(self: E) -> E:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._table.name!r} key={self.key!r}>"


_SLOT_SETTERS = (Entry._table.__set__, Entry._handle.__set__, Entry.key.__set__)  # type: ignore[attr-defined]


def _set_slots(entry: Entry, table: Any, handle: Any, key: Any) -> None:
    """Fill an entry's own slots (past ``Entry.__setattr__``, which guards the fields)."""
    set_table, set_handle, set_key = _SLOT_SETTERS
    set_table(entry, table)
    set_handle(entry, handle)
    set_key(entry, key)


def _own_slots(cls: type) -> tuple[str, ...]:
    """The slots entry classes below Entry declared themselves (rare: ``__slots__ = (...)``)."""
    out: list[str] = []
    for klass in cls.__mro__:
        if klass is not Entry and issubclass(klass, Entry):
            slots = klass.__dict__.get("__slots__", ())
            out.extend((slots,) if isinstance(slots, str) else slots)
    return tuple(out)


def runtime_entry(name: str, fields: dict[str, Any]) -> type[Entry]:
    """An Entry class made at run time: ``{attr: spec}`` or ``{attr: Field(...)}``, for
    plugins that discover the fields they use (e.g. from ``TablesInit.fields``)."""
    attrs = {a: f if isinstance(f, Field) else Field(f) for a, f in fields.items()}
    return type(name, (Entry,), attrs)


class ImportedTable(Generic[E]):
    """A table owned by the host or another plugin, with typed access to its entries."""

    def __init__(
        self,
        backend: Backend,
        table_id: int,
        name: str,
        key: StateType,
        entry: type[E],
        field_ids: dict[str, int],
        nested: dict[str, ImportedTable[Any]],
    ) -> None:
        self._backend = backend
        self._id = table_id
        self.name = name
        self.key_type = key
        self.entry_type = entry
        self._field_ids = field_ids
        self._nested = nested
        self._read = backend.read
        self._get_entry = backend.get_entry
        self._key_code = int(key)
        self._key_range = _RANGES.get(key)

    def bind(self, table_id: int) -> ImportedTable[E]:
        """This nested-table description applied to one entry's nested table."""
        return ImportedTable(
            self._backend,
            table_id,
            self.name,
            self.key_type,
            self.entry_type,
            self._field_ids,
            self._nested,
        )

    def get(self, key: Any) -> E | None:
        """The entry at ``key``, or None."""
        rng = self._key_range
        if rng is None or type(key) is not int or not rng[0] <= key <= rng[1]:
            check_value(self.key_type, key, f"key of table {self.name!r}")  # raises if wrong
        handle = self._get_entry(self._id, self._key_code, key)
        if handle is None:
            return None
        entry = self.entry_type.__new__(self.entry_type)  # no __init__ call: the hot path
        _set_slots(entry, self, handle, key)
        return entry

    def __getitem__(self, key: Any) -> E:
        entry = self.get(key)
        if entry is None:
            raise KeyError(key)
        return entry

    def __len__(self) -> int:
        return self._backend.table_size(self._id)

    def each(self, fn: Callable[[E], bool | None]) -> bool:
        """Call ``fn(entry)`` for every entry (stop when it returns False); True if not stopped."""

        def visit(handle: int) -> bool:
            return fn(self.entry_type(self, handle)) is not False

        return self._backend.iterate(self._id, visit)

    def add(self, key: Any, **values: Any) -> E:
        """Create an entry at ``key`` with field values (parse and capture listening only)."""
        check_value(self.key_type, key, f"key of table {self.name!r}")
        staged = self._backend.create_entry(self._id)
        try:
            probe = self.entry_type(self, staged, key)
            for attr, value in values.items():
                if attr not in self.entry_type.FIELDS:
                    raise AttributeError(f"{self.entry_type.__name__} has no field {attr!r}")
                setattr(probe, attr, value)
        except BaseException:
            self._backend.destroy_entry(self._id, staged)
            raise
        added = self._backend.add_entry(self._id, int(self.key_type), key, staged)
        return self.entry_type(self, added, key)

    def erase(self, key: Any) -> None:
        """Remove the entry at ``key``."""
        check_value(self.key_type, key, f"key of table {self.name!r}")
        self._backend.erase(self._id, int(self.key_type), key)

    def clear(self) -> None:
        """Remove every entry."""
        self._backend.clear(self._id)


class TablesInit:
    """What a plugin gets at init to import and export tables (parse/extract plugins)."""

    def __init__(
        self,
        backend: Backend,
        exporter: Callable[[ExportedTable[Any]], None],
        plugin: str = "",
    ) -> None:
        self._backend = backend
        self._exporter = exporter
        self._plugin = plugin  # named in errors: Falco's log holds every plugin's

    def list_tables(self) -> list[tuple[str, StateType]]:
        """The tables the host knows: (name, key type)."""
        return [(n, StateType(k)) for n, k in self._backend.list_tables()]

    def fields(self, name: str, key: Any) -> list[tuple[str, StateType, bool]]:
        """The fields of a table: (name, type, read-only); ``key`` as for import_table."""
        table = self._get_table(name, state_type(key))
        return [(n, StateType(t), ro) for n, t, ro in self._backend.list_fields(table)]

    def import_table(self, name: str, key: Any, entry: type[E]) -> ImportedTable[E]:
        """Look a table up and resolve the fields ``entry`` declares (a mismatch fails init).
        ``key`` is the key type: ``Int64`` .. ``UInt64``, ``str`` or ``bool``."""
        key = state_type(key)
        table = self._resolve(self._get_table(name, key), name, key, entry)
        return _accelerate(table, self._backend)

    def _get_table(self, name: str, key: StateType) -> int:
        try:
            return self._backend.get_table(name, int(key))
        except TableError as exc:
            if not str(exc).startswith("no table"):
                raise
            try:
                known = ", ".join(f"{n} ({type_name(k)})" for n, k in self.list_tables())
            except (TableError, ValueError):
                known = "?"
            who = f"plugin {self._plugin}: " if self._plugin else ""
            detail = str(exc).partition(": ")[2]
            raise TableError(
                f"{who}no table {name!r} with {type_name(key)} keys"
                f"{f' ({detail})' if detail else ''}; the host has: {known or 'no tables'}"
            ) from None

    def _resolve(
        self, table_id: int, name: str, key: StateType, entry: type[E]
    ) -> ImportedTable[E]:
        ids: dict[str, int] = {}
        nested: dict[str, ImportedTable[Any]] = {}
        for attr, f in entry.FIELDS.items():
            assert f.name is not None
            getter = self._backend.add_field if f.add else self._backend.get_field
            try:
                ids[attr] = getter(table_id, f.name, int(f.kind))
            except TableError as exc:
                who = f"plugin {self._plugin}: " if self._plugin else ""
                raise TableError(
                    f"{who}table {name!r}, field {f.name!r} ({type_name(f.kind)}): {exc}"
                ) from exc
        table = ImportedTable(self._backend, table_id, name, key, entry, ids, nested)
        for attr, f in entry.FIELDS.items():
            if isinstance(f.spec, Table):
                nested[attr] = self._resolve_nested(table, attr, f)
        return table

    def _resolve_nested(
        self, parent: ImportedTable[Any], attr: str, f: Field
    ) -> ImportedTable[Any]:
        # the fields of a nested table are looked up on one instance of it: a scratch entry
        assert isinstance(f.spec, Table)
        backend = self._backend
        scratch = backend.create_entry(parent._id)
        try:
            sub_id = backend.read(parent._id, scratch, parent._field_ids[attr], StateType.TABLE)
            return self._resolve(sub_id, f"{parent.name}.{f.name}", f.spec.key, f.spec.entry)
        finally:
            backend.destroy_entry(parent._id, scratch)

    def export_table(self, name: str, key: StateType, entry: type[X]) -> ExportedTable[X]:
        """Create a table owned by this plugin and register it with the host."""
        table = ExportedTable(name, key, entry)
        self._exporter(table)
        return table


def _accelerate(table: ImportedTable[E], backend: Any) -> ImportedTable[E]:
    """The table with its lookups and field reads done by the backend in C, when it can
    (the shim's backend can): an instance of a subclass of its class, made for it, whose
    ``get`` is the backend's entry getter (a method: CPython finds it in the class in a few
    instructions, where an instance attribute costs a generic lookup). The entries it makes
    are of a subclass of the entry class, made for this table, whose non-table fields are
    the backend's field readers (which the backend may also find by name, past CPython's
    generic attribute lookup). Same results and errors; writes still go through
    :class:`Field`. Nested tables (bound anew for every entry) keep the Python path."""
    make_getter = getattr(backend, "entry_getter", None)
    make_reader = getattr(backend, "field_reader", None)
    if make_getter is None or make_reader is None:
        return table
    base = table.entry_type
    attrs: dict[str, Any] = {
        attr: make_reader(table._id, table._field_ids[attr], f.code, f, base)
        for attr, f in base.FIELDS.items()
        if not f.is_table
    }
    attrs.update(__slots__=(), __module__=base.__module__, __qualname__=base.__qualname__)
    fast: Any = type(base.__name__, (base,), attrs)
    fast.FIELDS = base.FIELDS  # the declarations stay the Field objects
    fast_reads = getattr(backend, "fast_reads", None)
    if fast_reads is not None:
        fast_reads(fast)  # its readers found by name in C, past the generic lookup
    cls = type(table)
    own: Any = type(cls.__name__, (cls,), {
        "__slots__": (), "__module__": cls.__module__, "__qualname__": cls.__qualname__,
    })  # fmt: skip
    made: ImportedTable[E] = own(table._backend, table._id, table.name, table.key_type, fast,
                                 table._field_ids, table._nested)  # fmt: skip
    own.get = make_getter(made._id, made._key_code, fast, made, ImportedTable.get)
    return made


# ----------------------------------------------------------------------------- exports

X = TypeVar("X", bound="ExportedEntry")


class _Declared:
    visibility: ClassVar[str] = "public"
    read_only: ClassVar[bool] = False

    def __init__(self, spec: Any, default: Any = None) -> None:
        self.kind = state_type(spec)
        if self.kind is StateType.TABLE:
            raise TypeError("declare nested tables with Nested(EntryType, key)")
        self.default = default if default is not None else _zero(self.kind)
        self.attr = ""

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr


def _zero(kind: StateType) -> Any:
    return "" if kind is StateType.STRING else False if kind is StateType.BOOL else 0


class Public(_Declared):
    """A field others can read and write."""


class ReadOnly(_Declared):
    """A field others can read; only this plugin writes it."""

    read_only = True


class Private(_Declared):
    """A field only this plugin sees."""

    visibility = "private"


class Nested(_Declared):
    """A nested table in every entry (like a thread's file descriptors): its own
    :class:`ExportedTable` of ``entry`` rows, read-only as a field (the table itself)."""

    read_only = True

    def __init__(self, entry: type[ExportedEntry], key: StateType = StateType.UINT64) -> None:
        self.kind = StateType.TABLE
        self.entry = entry
        self.key = key
        self.default = None
        self.attr = ""
        # fields other plugins add to this nested table: shared by every entry's instance,
        # since they are looked up on one instance and used on all
        self.added: dict[str, StateType] = {}


class ExportedEntry:
    """Base of the entries of an exported table: plain attributes, typed by declarations.

    Other plugins can also add fields to an exported table; their values live in
    ``extra`` (by field name).
    """

    DECLARED: ClassVar[dict[str, _Declared]]

    def __init_subclass__(cls) -> None:
        cls.DECLARED = {
            name: value
            for klass in reversed(cls.__mro__)
            for name, value in vars(klass).items()
            if isinstance(value, _Declared)
        }

    def __init__(self, **values: Any) -> None:
        self.extra: dict[str, Any] = {}
        for name, decl in self.DECLARED.items():
            if isinstance(decl, Nested):
                if name in values:
                    raise TypeError(f"{name} is a nested table: fill it after creating the entry")
                table_name = f"{type(self).__name__}.{name}"  # one name for all instances
                nested: ExportedTable[Any] = ExportedTable(table_name, decl.key, decl.entry)
                nested.added = decl.added
                setattr(self, name, nested)
                continue
            value = values.pop(name, decl.default)
            setattr(self, name, check_value(decl.kind, value, f"{type(self).__name__}.{name}"))
        if values:
            raise TypeError(f"{type(self).__name__} has no field(s) {', '.join(values)}")


class ExportedTable(Generic[X]):
    """A table this plugin owns: a dict of key -> entry that the API exposes to others."""

    def __init__(self, name: str, key: StateType, entry: type[X]) -> None:
        if not name or "\x00" in name:
            raise ValueError("an exported table needs a name")
        self.name = name
        self.key_type = state_type(key)
        if self.key_type in (StateType.TABLE,):
            raise TypeError("a table key cannot be a table")
        self.entry_type = entry
        self.entries: dict[Any, X] = {}
        # fields others added at run time: name -> state type
        self.added: dict[str, StateType] = {}

    def visible_fields(self) -> list[tuple[str, StateType, bool]]:
        """The fields the API lists: declared public/read-only ones, then added ones."""
        out = [
            (name, d.kind, d.read_only)
            for name, d in self.entry_type.DECLARED.items()
            if d.visibility == "public"
        ]
        return out + [(name, kind, False) for name, kind in self.added.items()]

    def __getitem__(self, key: Any) -> X:
        return self.entries[key]

    def __setitem__(self, key: Any, entry: X) -> None:
        check_value(self.key_type, key, f"key of table {self.name!r}")
        if not isinstance(entry, self.entry_type):
            raise TypeError(f"entries of {self.name!r} are {self.entry_type.__name__}")
        self.entries[key] = entry

    def __delitem__(self, key: Any) -> None:
        del self.entries[key]

    def __contains__(self, key: Any) -> bool:
        return key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: Any) -> X | None:
        """The entry with that key, or None."""
        return self.entries.get(key)

    # -- what other plugins and the host reach through the API (called by the shim) --

    def api_field(self, name: str, kind: int, add: bool) -> bool:
        """Whether field ``name`` of type ``kind`` exists (adding it when ``add``); a field
        of another type, or a private one, does not."""
        for fname, fkind, _ in self.visible_fields():
            if fname == name:
                return int(fkind) == kind
        if not add or name in self.entry_type.DECLARED:
            return False
        self.added[name] = state_type(StateType(kind))
        return True

    def api_read(self, entry: X, name: str) -> Any:
        """API: read field ``name`` of an entry (an added field reads as zero until written)."""
        if name in self.added:
            return entry.extra.get(name, _zero(self.added[name]))
        return getattr(entry, name)

    def api_write(self, entry: X, name: str, value: Any) -> None:
        """API: write field ``name`` of an entry; read-only and private fields refuse."""
        if name in self.added:
            entry.extra[name] = check_value(self.added[name], value, name)
            return
        decl = self.entry_type.DECLARED[name]
        if decl.read_only or decl.visibility != "public":  # nested tables are read-only too
            raise TableError(f"field {name!r} of table {self.name!r} is read-only")
        setattr(entry, name, check_value(decl.kind, value, name))

    def api_create(self) -> X:
        """API: a new entry of this table's type."""
        return self.entry_type()

    def api_add(self, key: Any, entry: X) -> X:
        """API: store ``entry`` under ``key``."""
        self[key] = entry
        return entry

    def api_erase(self, key: Any) -> None:
        """API: remove the entry with that key, if any."""
        self.entries.pop(key, None)

    def api_entries(self) -> list[X]:
        """API: the entries, for iteration."""
        return list(self.entries.values())
