"""The shared pass engine of the zero-cost proxies, and the proxy-definition contract.

A proxy is a :class:`ProxyDefinition`: a name, a one-line description, the reference it
follows, the engine *passes* it needs (:data:`PASSES`) and ``compute(ctx) -> float``.
:func:`compute_proxies` builds one context per (network, batch), runs every pass that at
least one asked proxy needs exactly once, in the fixed order of :data:`PASSES`, and calls
each definition's ``compute`` as soon as the passes it needs are done (so a definition that
needs only ``"network"`` sees the network before any forward pass has touched it).

The passes, in run order, with the :class:`ProxyContext` attributes each fills (``W`` = the
weights of every Conv2d / Linear layer, as in Abdelfattah et al. 2021; ``L`` = cross-entropy
of the batch; BN in train mode, i.e. batch statistics).  Passes marked (data) look at the
batch's values, the others only at its shape:

* ``network``: ``net``, ``layers`` - the network built by the builder, PyTorch's default
  init from ``derive_seed(seed, "proxy-init", arch_key)``, train mode; its Conv2d / Linear
  modules.
* ``abs_ones_backward``: ``abs_net``, ``abs_layers`` - a float64 copy of ``net`` with
  ``|theta|`` for every parameter, BN in eval mode (fresh running statistics), after
  ``sum(abs_net(ones(1, C, H, W))).backward()`` (``weight.grad`` set).
* ``forward`` (data): ``x`` (a copy of the batch, requiring grad iff ``input_grad`` is
  needed), ``logits = net(x)``.
* ``relu_kernel`` (data): ``relu_kernel`` - ``sum_relus c c^T + (1-c)(1-c)^T``, ``(B, B)``
  float64, of the binary codes ``c`` of every ``nn.ReLU``'s input (hooks in ``forward``).
* ``input_grad`` (data): ``input_grad`` - ``d sum(logits) / dx``.
* ``loss_grads`` (data): ``weights``, ``weight_grads`` (``dL/dW``, ``None`` where unused;
  with ``create_graph`` iff ``loss_hvp`` is needed), ``grad_pairs`` (detached
  ``(W, dL/dW)`` of the used weights).
* ``act_grads`` (data): ``act_grads`` - per Conv2d / Linear output ``a``, in the order the
  loss backward reaches it, ``sum_space(a * dL/da)`` ``(B, C)`` (hooks);
  ``act_grad_layers`` - the Conv2d / Linear module of each entry (aligned).
* ``loss_hvp`` (data): ``hvp`` - ``[(W, H g)]``, ``g = dL/dW`` and ``H`` the Hessian of
  ``L``, over the weights whose gradient has a graph (empty if none; ``H g`` may be
  ``None``).
* ``gaussian_network``: ``gaussian_net`` - a second network, Zen-NAS's Gaussian init from
  ``derive_seed(seed, "zen-init", arch_key)``.
* ``perturbed_features``: ``features`` ``(f(x), f(x'))`` - the map entering the last
  ``nn.AdaptiveAvgPool2d`` of ``gaussian_net`` for Gaussian ``x`` of the batch's shape and
  ``x' = x + 0.01 eps`` (``derive_seed(seed, "zen-input", arch_key)``, no grad, train
  mode: the two forward passes update the BN running statistics, ``f(x)`` first);
  ``bn_variances`` - per BatchNorm2d module of ``gaussian_net`` (module order), the channel
  mean of its ``running_var`` after both passes (fresh running variance 1, the module's own
  momentum: ``0.81 + 0.09 v(x) + 0.1 v(x')`` with PyTorch's default 0.1, ``v`` the unbiased
  batch variance), as ZenNAS reads it.

A pass needs the passes it builds on (``loss_hvp`` needs ``loss_grads``, which needs
``forward``, which needs ``network``); a definition may list only the last ones.  A
data-independent definition may not need a (data) pass and sees only the batch's shape
(``ctx.batch`` is refused).  Reading a product of a pass the definition did not declare
raises :class:`ProxyContractError`, so that a proxy gives the same value computed alone or
together with others.

Every proxy's ``seconds`` is the CPU time (``time.process_time``) of the passes it needs
(hook time counted to the hooked pass, not to its host) plus its own ``compute``: what it
would have cost alone.  NaN and inf are returned as they come out.

Third parties subclass :class:`ProxyDefinition` (or provide the same attributes) and use it
by import path, ``compute_proxies(..., proxies=["mypkg.zc:MY_PROXY"])`` /
``Proxy("mypkg.zc:MY_PROXY")``, or register it in :data:`benchbench.registry.PROXIES` (entry
point group ``benchbench.proxies``).
"""

from __future__ import annotations

import copy
import inspect
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from benchbench.api import unknown
from benchbench.rng import derive_seed

if TYPE_CHECKING:
    from benchbench.registry import Param

__all__ = ["DATA_PASSES", "IMPLEMENTATION", "IMPLEMENTATION_CHANGES", "PASSES", "PROXIES",
           "VARIANTS", "PassInfo", "ProxyContext", "ProxyContractError", "ProxyDefinition",
           "ProxyScore", "canonical_proxy", "check_definition", "compute_proxies", "get_proxy",
           "pass_closure"]

#: Version of the built-in definitions and of the networks' numerics; a score cache records it
#: and refuses to mix scores of different versions.
IMPLEMENTATION = "2"
#: What changed in each :data:`IMPLEMENTATION` (quoted when a score folder of another version
#: is resumed).
IMPLEMENTATION_CHANGES: Mapping[str, str] = MappingProxyType({
    "1": "first release",
    "2": "fisher broadcasts each channel's value over the channel's weights (the reference's "
         "sum; the channel-counted sum is 'fisher_channel'); zen reads the BN running variance "
         "after the two train-mode passes (ZenNAS), not the batch variance",
})

#: Every built-in proxy, in report order (each is registered in
#: :data:`benchbench.registry.PROXIES` as ``algorithms.proxies.<name>:<NAME>``).
PROXIES: tuple[str, ...] = ("params", "flops", "grad_norm", "snip", "grasp", "fisher",
                            "jacob_cov", "synflow", "nwot", "l2_norm", "plain", "zen")
#: Built-in named variants of the proxies above that deviate from their reference on purpose
#: (each one's description says how); registered like them, never computed unless asked for
#: by name, and never shown beside a published number.
VARIANTS: tuple[str, ...] = ("fisher_channel",)
_ALIASES = {"naswot": "nwot", "jacov": "jacob_cov", "jacobcov": "jacob_cov"}


class ProxyContractError(ValueError):
    """A proxy definition that breaks the contract (a missing or badly typed attribute, an
    unknown pass, a product read without declaring its pass, a non-float result)."""


# ----------------------------------------------------------------------------- passes
@dataclass(frozen=True)
class PassInfo:
    """One pass of the engine.

    Attributes:
        name: the pass name a definition lists in ``needs``.
        requires: the passes it builds on (run before it).
        provides: the :class:`ProxyContext` attributes it fills.
        reads_data: whether it looks at the batch's values (not only its shape).
        description: one line.
    """

    name: str
    requires: tuple[str, ...]
    provides: tuple[str, ...]
    reads_data: bool
    description: str


def _p(name: str, requires: tuple[str, ...], provides: tuple[str, ...], reads_data: bool,
       description: str) -> tuple[str, PassInfo]:
    return name, PassInfo(name, requires, provides, reads_data, description)


#: The engine's passes, in the order they run (see the module docstring).
PASSES: Mapping[str, PassInfo] = MappingProxyType(dict([
    _p("network", (), ("net", "layers"), False,
       "the freshly initialised network (PyTorch default init), train mode"),
    _p("abs_ones_backward", ("network",), ("abs_net", "abs_layers"), False,
       "float64 copy with |theta|, BN eval, all-ones input; backward of sum(out)"),
    _p("forward", ("network",), ("x", "logits"), True,
       "one forward pass of the batch"),
    _p("relu_kernel", ("forward",), ("relu_kernel",), True,
       "NASWOT kernel of the binary codes of every nn.ReLU input (forward hooks)"),
    _p("input_grad", ("forward",), ("input_grad",), True,
       "gradient of sum(logits) with respect to the input"),
    _p("loss_grads", ("forward",), ("weights", "weight_grads", "grad_pairs"), True,
       "gradient of the cross-entropy loss with respect to the Conv2d / Linear weights"),
    _p("act_grads", ("loss_grads",), ("act_grads", "act_grad_layers"), True,
       "sum over space of activation x loss gradient of every Conv2d / Linear output"),
    _p("loss_hvp", ("loss_grads",), ("hvp",), True,
       "Hessian of the loss times its weight gradient (double backward)"),
    _p("gaussian_network", (), ("gaussian_net",), False,
       "a second network with Zen-NAS's Gaussian init"),
    _p("perturbed_features", ("gaussian_network",), ("features", "bn_variances"), False,
       "pre-pooling features of Gaussian inputs and their 0.01 perturbation (train mode); "
       "BN running variances"),
]))
#: Passes that look at the batch's values; a data-independent proxy may not need them.
DATA_PASSES: frozenset[str] = frozenset(n for n, p in PASSES.items() if p.reads_data)
_PRODUCER: dict[str, str] = {attr: p.name for p in PASSES.values() for attr in p.provides}


def pass_closure(needs: Iterable[str]) -> frozenset[str]:
    """``needs`` with every pass they build on.

    Raises:
        ProxyContractError: an unknown pass name (the message lists the known ones).
    """
    out: set[str] = set()
    todo = list(needs)
    while todo:
        n = todo.pop()
        if n in out:
            continue
        if n not in PASSES:
            raise ProxyContractError(f"unknown engine pass {n!r}; known passes: "
                                     f"{', '.join(PASSES)}")
        out.add(n)
        todo.extend(PASSES[n].requires)
    return frozenset(out)


# ------------------------------------------------------------------------ the contract
class ProxyDefinition:
    """Base class of a zero-cost proxy definition (the contract the engine calls).

    Set, as class attributes (or in ``__init__``):

    * ``name`` (str): the proxy's canonical name, e.g. ``"synflow"``;
    * ``reference`` (str, non-empty): the paper and the official code it follows;
    * ``needs`` (frozenset of str): the engine passes it reads, see :data:`PASSES`;
    * ``data_independent`` (bool, default False): it looks only at the batch's shape (then
      ``needs`` may not contain a pass of :data:`DATA_PASSES`);
    * ``description`` (str): one line; by default the first paragraph of the class docstring;

    and implement ``compute(ctx: ProxyContext) -> float`` (NaN / inf returned as they are;
    ``ctx`` must not be modified).  ``params()`` lists the definition's options (as
    :class:`benchbench.registry.Param`), ``()`` by default.

    Any object with these attributes works (the engine checks them with
    :func:`check_definition`); a class is instantiated with no arguments.
    """

    name: str = ""
    reference: str = ""
    needs: frozenset[str] = frozenset()
    data_independent: bool = False

    @property
    def description(self) -> str:
        """One line: the first paragraph of the class docstring."""
        doc = inspect.getdoc(type(self)) or ""
        return doc.strip().split("\n\n")[0].replace("\n", " ").strip()

    def compute(self, ctx: ProxyContext) -> float:
        """The proxy's value from the products of the passes in ``needs``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement compute(ctx)")

    def params(self) -> tuple[Param, ...]:
        """The definition's options (none by default)."""
        return ()

    def __repr__(self) -> str:
        return f"<proxy definition {self.name!r} ({type(self).__module__})>"


def check_definition(obj: Any, label: str | None = None) -> Any:
    """``obj`` (a class is instantiated) if it meets the :class:`ProxyDefinition` contract.

    Raises:
        ProxyContractError: naming the first attribute that is missing or wrong.
    """
    what = f"proxy {label!r}" if label is not None else "proxy definition"
    if inspect.isclass(obj):
        try:
            obj = obj()
        except TypeError as e:
            raise ProxyContractError(f"{what}: cannot instantiate {obj.__name__} with no "
                                     f"arguments ({e}); give an instance") from None
    for attr in ("name", "description", "reference"):
        v = getattr(obj, attr, None)
        if not isinstance(v, str) or not v.strip():
            raise ProxyContractError(f"{what} ({obj!r}): {attr} must be a non-empty str, got "
                                     f"{v!r}")
    needs = getattr(obj, "needs", None)
    if not isinstance(needs, (frozenset, set)) or not all(isinstance(n, str) for n in needs):
        raise ProxyContractError(f"{what} ({obj!r}): needs must be a frozenset of pass names "
                                 f"({', '.join(PASSES)}), got {needs!r}")
    closure = pass_closure(needs)
    di = getattr(obj, "data_independent", None)
    if not isinstance(di, bool):
        raise ProxyContractError(f"{what} ({obj!r}): data_independent must be a bool, got "
                                 f"{di!r}")
    if di and closure & DATA_PASSES:
        raise ProxyContractError(f"{what} ({obj!r}) is data_independent but needs pass(es) "
                                 f"{sorted(closure & DATA_PASSES)}, which read the batch")
    for meth in ("compute", "params"):
        if not callable(getattr(obj, meth, None)):
            raise ProxyContractError(f"{what} ({obj!r}): {meth} must be a method")
    return obj


def canonical_proxy(name: str) -> str:
    """The canonical name of a proxy: a name registered in
    :data:`benchbench.registry.PROXIES` (aliases ``naswot`` -> ``nwot``, ``jacov`` ->
    ``jacob_cov``), or an import path ``"package.module:NAME"`` of a definition, returned as
    given once it loads and meets the contract.

    Raises:
        UnknownNameError: (a ``KeyError``) neither, naming the registered proxies.
        ProxyContractError: the definition breaks the contract.
    """
    from benchbench.registry import PROXIES as REGISTRY
    from benchbench.registry import is_import_path

    n = _ALIASES.get(name, name) if isinstance(name, str) else name
    if isinstance(n, str) and (n in REGISTRY or is_import_path(n)):
        get_proxy(n)
        return n
    err = unknown("proxy", name, REGISTRY.names())
    raise type(err)(f"{err.args[0]} (or an import path 'package.module:NAME' of a proxy "
                    f"definition)")


def get_proxy(name: str) -> Any:
    """The checked definition of a canonical name or import path (see
    :func:`canonical_proxy`), loaded through :data:`benchbench.registry.PROXIES`."""
    from benchbench.registry import PROXIES as REGISTRY

    return check_definition(REGISTRY.load(_ALIASES.get(name, name)), name)


# ------------------------------------------------------------------------- the context
class _Run:
    """The products of one (network, batch): filled by the passes, read through views."""

    def __init__(self, builder: Callable[..., Any], arch: Any, batch: Any, seed: int,
                 arch_key: str, needed: frozenset[str]) -> None:
        self.builder = builder
        self.arch = arch
        self.batch = batch
        self.seed = seed
        self.arch_key = arch_key
        self.needed = needed
        self.values: dict[str, Any] = {}
        self.seconds: dict[str, float] = {}
        self.collect_act_grads = False
        #: hooks on tensors of the autograd graph, removed when the run ends (a hook's
        #: closure refers to the run, which refers to the graph: a reference cycle through
        #: C++ that Python's collector cannot see, which would keep every graph alive)
        self.tensor_hooks: list[Any] = []

    def generator(self, tag: str) -> Any:
        import torch
        return torch.Generator().manual_seed(derive_seed(self.seed, tag, self.arch_key))

    def add_seconds(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def execute(self, name: str) -> None:
        """Run pass ``name``, timed; time that hooks add to other passes meanwhile is theirs."""
        before = dict(self.seconds)
        t0 = time.process_time()
        try:
            _PASS_FUNCTIONS[name](self)
        finally:
            dt = time.process_time() - t0
            hooked = sum(v - before.get(k, 0.0) for k, v in self.seconds.items() if k != name)
            self.add_seconds(name, dt - hooked)


class ProxyContext:
    """What a definition's ``compute`` reads: the products of the passes it declared.

    Always available: ``arch``, ``arch_key``, ``seed``, ``builder``, ``num_classes``,
    ``batch_shape``, ``input_shape`` and :meth:`generator`; ``batch`` only for a definition
    that is not data-independent; every other attribute only if its pass (see
    :data:`PASSES`) is in the definition's ``needs`` (or built on by one that is).
    """

    __slots__ = ("_data", "_passes", "_proxy", "_run")

    def __init__(self, run: _Run, proxy: str, passes: frozenset[str],
                 data_independent: bool) -> None:
        self._run = run
        self._proxy = proxy
        self._passes = passes
        self._data = not data_independent

    def _get(self, attr: str) -> Any:
        p = _PRODUCER[attr]
        if p not in self._passes:
            have = ", ".join(sorted(self._passes)) or "no pass"
            raise ProxyContractError(f"proxy {self._proxy!r} reads ctx.{attr}, made by pass "
                                     f"{p!r}, which its needs ({have}) do not include")
        return self._run.values[attr]

    # -- always there
    @property
    def arch(self) -> Any:
        """The architecture, as the builder takes it."""
        return self._run.arch

    @property
    def arch_key(self) -> str:
        """The architecture's id used for seeding."""
        return self._run.arch_key

    @property
    def seed(self) -> int:
        """The initialisation seed given to :func:`compute_proxies`."""
        return self._run.seed

    @property
    def builder(self) -> Callable[..., Any]:
        """``builder(arch, num_classes=...) -> nn.Module`` (for a definition that builds its
        own network; see :func:`benchbench.nn.new_network`)."""
        return self._run.builder

    @property
    def num_classes(self) -> int:
        """The classifier's outputs."""
        return int(self._run.batch.num_classes)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """``(B, C, H, W)`` of the batch."""
        return tuple(int(s) for s in self._run.batch.x.shape)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """``(C, H, W)`` of one image."""
        return self.batch_shape[1:]

    def generator(self, tag: str) -> Any:
        """A fresh ``torch.Generator`` seeded ``derive_seed(seed, tag, arch_key)`` (the engine
        uses the tags ``proxy-init``, ``zen-init`` and ``zen-input``; use your own)."""
        return self._run.generator(tag)

    @property
    def batch(self) -> Any:
        """The :class:`benchbench.nn.Batch` (refused to a data-independent definition)."""
        if not self._data:
            raise ProxyContractError(f"proxy {self._proxy!r} is data_independent but reads "
                                     f"ctx.batch; use ctx.batch_shape / ctx.input_shape")
        return self._run.batch

    # -- products of the passes
    @property
    def net(self) -> Any:
        """``network``: the freshly initialised ``nn.Module`` (train mode)."""
        return self._get("net")

    @property
    def layers(self) -> list[Any]:
        """``network``: its ``nn.Conv2d`` / ``nn.Linear`` modules in module order."""
        return self._get("layers")  # type: ignore[no-any-return]

    @property
    def abs_net(self) -> Any:
        """``abs_ones_backward``: the float64 ``|theta|`` copy after the backward."""
        return self._get("abs_net")

    @property
    def abs_layers(self) -> list[Any]:
        """``abs_ones_backward``: its Conv2d / Linear modules (``weight.grad`` set)."""
        return self._get("abs_layers")  # type: ignore[no-any-return]

    @property
    def x(self) -> Any:
        """``forward``: the input tensor (a copy of ``batch.x``)."""
        return self._get("x")

    @property
    def logits(self) -> Any:
        """``forward``: ``net(x)``, with its graph."""
        return self._get("logits")

    @property
    def relu_kernel(self) -> Any:
        """``relu_kernel``: the ``(B, B)`` float64 tensor ``sum c c^T + (1-c)(1-c)^T``."""
        return self._get("relu_kernel")

    @property
    def input_grad(self) -> Any:
        """``input_grad``: ``d sum(logits) / dx``, shaped like ``x``."""
        return self._get("input_grad")

    @property
    def weights(self) -> list[Any]:
        """``loss_grads``: the Conv2d / Linear weights (parameters, with grad)."""
        return self._get("weights")  # type: ignore[no-any-return]

    @property
    def weight_grads(self) -> tuple[Any, ...]:
        """``loss_grads``: ``dL/dW`` per weight, ``None`` where the loss does not use it."""
        return self._get("weight_grads")  # type: ignore[no-any-return]

    @property
    def grad_pairs(self) -> list[tuple[Any, Any]]:
        """``loss_grads``: detached ``(W, dL/dW)`` of the weights the loss uses."""
        return self._get("grad_pairs")  # type: ignore[no-any-return]

    @property
    def act_grads(self) -> list[Any]:
        """``act_grads``: ``sum_space(a * dL/da)`` ``(B, C)`` per layer output, in backward
        order."""
        return self._get("act_grads")  # type: ignore[no-any-return]

    @property
    def act_grad_layers(self) -> list[Any]:
        """``act_grads``: the Conv2d / Linear module of each ``act_grads`` entry."""
        return self._get("act_grad_layers")  # type: ignore[no-any-return]

    @property
    def hvp(self) -> list[tuple[Any, Any]]:
        """``loss_hvp``: ``(W, H g)`` per weight whose gradient has a graph."""
        return self._get("hvp")  # type: ignore[no-any-return]

    @property
    def gaussian_net(self) -> Any:
        """``gaussian_network``: the Gaussian-initialised second network."""
        return self._get("gaussian_net")

    @property
    def features(self) -> tuple[Any, Any]:
        """``perturbed_features``: the pre-pooling maps of ``x`` and ``x'``."""
        return self._get("features")  # type: ignore[no-any-return]

    @property
    def bn_variances(self) -> list[Any]:
        """``perturbed_features``: per BatchNorm2d module of ``gaussian_net``, the channel
        mean of its ``running_var`` after the two passes, as 0-d tensors."""
        return self._get("bn_variances")  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"ProxyContext({self._proxy!r}, passes={sorted(self._passes)})"


# ----------------------------------------------------------------------- the passes
def _layers(net: Any) -> list[Any]:
    from torch import nn
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _network(run: _Run) -> None:
    from benchbench.nn import new_network

    net = new_network(run.builder, run.arch, num_classes=run.batch.num_classes,
                      generator=run.generator("proxy-init"))
    run.values.update(net=net, layers=_layers(net))


def _abs_ones_backward(run: _Run) -> None:
    import torch

    dnet = copy.deepcopy(run.values["net"]).double().eval()
    with torch.no_grad():
        for p in dnet.parameters():
            p.abs_()
    out = dnet(torch.ones((1, *run.batch.x.shape[1:]), dtype=torch.float64))
    out.sum().backward()
    run.values.update(abs_net=dnet, abs_layers=_layers(dnet))


def _hook_relu_kernel(run: _Run) -> list[Any]:
    import torch
    from torch import nn

    n = run.batch.x.shape[0]
    kernel = torch.zeros((n, n), dtype=torch.float64)
    run.values["relu_kernel"] = kernel

    def hook(module: Any, inp: Any, _out: Any) -> None:
        t0 = time.process_time()
        c = (inp[0].detach().reshape(n, -1) > 0).to(torch.float32)
        d = c.shape[1]
        ones = c.sum(1, dtype=torch.float64)
        # c c^T + (1-c)(1-c)^T = 2 c c^T + d - n_i - n_j  (one matmul; exact in float32
        # while d < 2^24)
        kernel.add_((c @ c.T).to(torch.float64).mul_(2).add_(d)
                    .sub_(ones[:, None]).sub_(ones[None, :]))
        run.add_seconds("relu_kernel", time.process_time() - t0)

    return [m.register_forward_hook(hook) for m in run.values["net"].modules()
            if isinstance(m, nn.ReLU)]


def _hook_act_grads(run: _Run) -> list[Any]:
    collected: list[Any] = []
    modules: list[Any] = []
    run.values.update(act_grads=collected, act_grad_layers=modules)

    def layer_hook(module: Any, _inp: Any, act: Any) -> None:
        a = act.detach()  # not act itself: its grad_fn holds this hook

        def grad_hook(g: Any) -> None:
            if not run.collect_act_grads:  # e.g. the input-gradient backward
                return
            t0 = time.process_time()
            prod = a * g.detach()
            collected.append(prod.sum((2, 3)) if prod.dim() == 4 else prod)
            modules.append(module)
            run.add_seconds("act_grads", time.process_time() - t0)
        if act.requires_grad:
            run.tensor_hooks.append(act.register_hook(grad_hook))

    return [m.register_forward_hook(layer_hook) for m in run.values["layers"]]


#: Passes made by hooks installed for the forward pass.
_FORWARD_HOOKS: dict[str, Callable[[_Run], list[Any]]] = {
    "relu_kernel": _hook_relu_kernel, "act_grads": _hook_act_grads}


def _forward(run: _Run) -> None:
    handles: list[Any] = []
    for name, install in _FORWARD_HOOKS.items():
        if name in run.needed:
            handles += install(run)
    x = run.batch.x.clone().requires_grad_("input_grad" in run.needed)
    try:
        logits = run.values["net"](x)
    finally:
        for h in handles:
            h.remove()
    run.values.update(x=x, logits=logits)


def _made_by_hooks(run: _Run) -> None:
    """``relu_kernel`` and ``act_grads`` are filled by the hooks of the forward pass."""


def _input_grad(run: _Run) -> None:
    import torch

    (gx,) = torch.autograd.grad(run.values["logits"].sum(), run.values["x"],
                                retain_graph="loss_grads" in run.needed)
    run.values["input_grad"] = gx


def _loss_grads(run: _Run) -> None:
    import torch
    import torch.nn.functional as F

    weights = [m.weight for m in run.values["layers"]]
    run.collect_act_grads = True
    try:
        grads = torch.autograd.grad(F.cross_entropy(run.values["logits"], run.batch.y), weights,
                                    create_graph="loss_hvp" in run.needed, allow_unused=True)
    finally:
        run.collect_act_grads = False
    run.values.update(weights=weights, weight_grads=grads,
                      grad_pairs=[(w.detach(), g.detach()) for w, g in zip(weights, grads)
                                  if g is not None])


def _loss_hvp(run: _Run) -> None:
    import torch

    live = [(w, g) for w, g in zip(run.values["weights"], run.values["weight_grads"])
            if g is not None and g.requires_grad]
    if not live:
        run.values["hvp"] = []
        return
    z = sum((g.detach() * g).sum() for _, g in live)
    hg = torch.autograd.grad(z, [w for w, _ in live], allow_unused=True)
    run.values["hvp"] = [(w, h) for (w, _), h in zip(live, hg)]


def _gaussian_network(run: _Run) -> None:
    from benchbench.nn import new_network

    run.values["gaussian_net"] = new_network(run.builder, run.arch,
                                             num_classes=run.batch.num_classes,
                                             generator=run.generator("zen-init"),
                                             scheme="gaussian")


def _perturbed_features(run: _Run) -> None:
    import torch
    from torch import nn

    net = run.values["gaussian_net"]
    pools = [m for m in net.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    if not pools:
        raise ValueError("pass 'perturbed_features' (zen) needs a network with a global "
                         "nn.AdaptiveAvgPool2d (its input is the feature map Zen-NAS scores)")
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    untracked = [type(m).__name__ for m in bns if m.running_var is None]
    if untracked:
        raise ValueError(f"pass 'perturbed_features' (zen) reads every BatchNorm2d's "
                         f"running_var, as ZenNAS does; {len(untracked)} BatchNorm2d of this "
                         f"network do not track running statistics (track_running_stats=False)")
    feats: list[Any] = []

    def pool_hook(m: Any, inp: Any, _out: Any) -> None:
        feats.append(inp[0])

    handle = pools[-1].register_forward_hook(pool_hook)
    shape = tuple(run.batch.x.shape)
    gen = run.generator("zen-input")
    x = torch.randn(shape, generator=gen)
    x2 = x + 0.01 * torch.randn(shape, generator=gen)
    net.train()  # BN normalises by the batch and updates its running statistics (ZenNAS)
    try:
        with torch.no_grad():
            net(x)
            net(x2)
    finally:
        handle.remove()
    run.values.update(features=(feats[0], feats[1]),
                      bn_variances=[m.running_var.detach().mean() for m in bns
                                    if m.running_var is not None])  # all (checked above)


_PASS_FUNCTIONS: dict[str, Callable[[_Run], None]] = {
    "network": _network, "abs_ones_backward": _abs_ones_backward, "forward": _forward,
    "relu_kernel": _made_by_hooks, "input_grad": _input_grad, "loss_grads": _loss_grads,
    "act_grads": _made_by_hooks, "loss_hvp": _loss_hvp, "gaussian_network": _gaussian_network,
    "perturbed_features": _perturbed_features,
}
assert list(_PASS_FUNCTIONS) == list(PASSES)


# ------------------------------------------------------------------------ the engine
@dataclass(frozen=True, slots=True)
class ProxyScore:
    """One proxy's value for one network.

    Attributes:
        proxy: the proxy's canonical name (see :func:`canonical_proxy`).
        value: the score (NaN / inf kept as computed).
        seconds: CPU seconds (``time.process_time``: robust to other load on the machine;
            with several torch threads it sums their time) of the passes this proxy needs and
            of its own computation, as if computed alone (shared passes counted in full for
            every proxy using them).
    """

    proxy: str
    value: float
    seconds: float


def compute_proxies(builder: Callable[..., Any], arch: Any, batch: Any, *,
                    proxies: Iterable[str] = PROXIES, seed: int = 0,
                    arch_key: str | None = None) -> dict[str, ProxyScore]:
    """Compute ``proxies`` for ``arch`` on a network freshly initialised from ``seed``,
    running each pass they need once.

    Args:
        builder: ``builder(arch, num_classes=...) -> nn.Module`` (see
            :func:`benchbench.nn.get_builder`).
        arch: what ``builder`` takes (NB201: an arch record, cell string or index).
        batch: a :class:`benchbench.nn.Batch` (``x`` ``(B, 3, H, W)``, ``y`` ``(B,)``).
        proxies: names (see :data:`PROXIES`; aliases ``naswot``, ``jacov``; any name in
            :data:`benchbench.registry.PROXIES`) or import paths ``"package.module:NAME"`` of
            definitions.
        seed: initialisation seed; the weights are drawn from
            ``derive_seed(seed, "proxy-init", arch_key)``.
        arch_key: the arch's id for seeding (default ``str(arch)``).

    Returns:
        ``{proxy: ProxyScore}`` in the order asked, keyed by canonical name.

    Raises:
        UnknownNameError: an unknown proxy name.
        ProxyContractError: a definition that breaks the contract.
    """
    names = list(dict.fromkeys(canonical_proxy(p) for p in proxies))
    defs = {n: get_proxy(n) for n in names}
    closures = {n: pass_closure(defs[n].needs) for n in names}
    needed = frozenset().union(*closures.values())
    run = _Run(builder, arch, batch, seed, str(arch) if arch_key is None else arch_key, needed)
    values: dict[str, float] = {}
    own: dict[str, float] = {}

    def compute_ready(done: set[str]) -> None:
        for n in names:
            if n in values or not closures[n] <= done:
                continue
            ctx = ProxyContext(run, n, closures[n], defs[n].data_independent)
            t0 = time.process_time()
            v = defs[n].compute(ctx)
            own[n] = time.process_time() - t0
            try:
                values[n] = float(v)
            except (TypeError, ValueError):
                raise ProxyContractError(f"proxy {n!r}: compute(ctx) returned {v!r} "
                                         f"({type(v).__name__}), not a float") from None

    done: set[str] = set()
    try:
        compute_ready(done)
        for p in PASSES:
            if p in needed:
                run.execute(p)
                done.add(p)
                compute_ready(done)
    finally:
        for h in run.tensor_hooks:
            h.remove()
        run.tensor_hooks.clear()
    return {n: ProxyScore(n, values[n], sum(run.seconds.get(s, 0.0) for s in closures[n])
                          + own[n]) for n in names}
