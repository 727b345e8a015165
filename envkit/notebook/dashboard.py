"""The notebook dashboard: one lab environment as ipywidgets over the same Environment API.

Buttons run on a worker thread, so the kernel keeps executing cells while an operation is in
flight; a click while busy is refused with a message in the status line; any failure lands
in the widget as a message (without the Pulumi CLI, Deploy says how to install it, and Plan
and Policy check keep working offline). Destroy is enabled only while something is deployed.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import CancelledError, EnvkitError, PrerequisiteError
from ..events import Diagnostic, Event, PolicyViolation, ResourceFinished, ResourceStarted
from ..limits import plural
from .views import _STYLE, PlanView, outputs_table, policy_html, prose_html

_LOG_LINES = 200

#: envkit commands that errors suggest, and the buttons that do the same here.
_BUTTON_FOR = {"up --refresh": "Refresh, then Deploy,", "up": "Deploy", "preview": "Preview",
               "refresh": "Refresh", "down": "Destroy", "plan": "Plan",
               "policy check": "Policy check"}
_COMMAND = re.compile(r"(Run )?`envkit (up --refresh|up|preview|refresh|down|plan|policy check)"
                      r"(?: [^`]*)?`")


def for_buttons(message: str) -> str:
    """An error message with the envkit commands it suggests named as this widget's
    buttons ("Run `envkit up --refresh`" reads "Click Refresh, then Deploy,")."""
    def button(match: re.Match[str]) -> str:
        return ("Click " if match.group(1) else "") + _BUTTON_FOR[match.group(2)]
    return _COMMAND.sub(button, message)


#: What Deploy, Preview, Refresh and Destroy say without the Pulumi CLI (the buttons that
#: work offline are named; the install command is for a terminal).
NO_ENGINE = ("{label} needs the Pulumi CLI, which is not installed here. Plan and Policy "
             "check work without it. To install it, run `envkit install-pulumi` in a terminal "
             "(it needs the internet), then click {button} again.")


class Dashboard:
    """``Dashboard(env_or_spec)``: environment, target and state; Plan, Policy check,
    Preview, Deploy, Refresh and Destroy (with confirmation); progress and a live event log;
    outputs with a reveal toggle; policy and inspection panels.

    ``env_or_spec`` is an :class:`envkit.engine.Environment`, an ``EnvironmentSpec``, a spec
    path or YAML text, or the name of an environment registered with ``%%envkit``.
    """

    def __init__(self, env_or_spec: Any, *, target: str | None = None,
                 profile: str | None = None) -> None:
        import ipywidgets as w

        # pulumi_aws's lazy submodule import is not thread-safe; plans run on the worker.
        import pulumi_aws.ec2
        import pulumi_aws.iam

        from ..engine import Environment
        from .magics import REGISTERED, resolve_spec

        del pulumi_aws
        self.env: Environment | None = None
        if isinstance(env_or_spec, Environment):
            self.env = env_or_spec
            self.spec = env_or_spec.spec
        elif isinstance(env_or_spec, str) and "\n" not in env_or_spec:
            self.spec = resolve_spec(env_or_spec)  # a registered name or a spec file
        else:
            from ..spec import load_spec

            self.spec = load_spec(env_or_spec)
        # Policy findings point at spec lines when the spec came from a file.
        is_file = isinstance(env_or_spec, str) and "\n" not in env_or_spec and \
            env_or_spec not in REGISTERED
        self._source = env_or_spec if is_file else self.spec
        self.target_arg = target
        self.profile = profile
        self.busy: str | None = None
        self.state = self._recorded_state()
        self.planned = 0
        self._thread: threading.Thread | None = None
        self._log: list[str] = []
        self._lock = threading.Lock()
        self._secrets_shown = False
        #: The latest status line, as plain text.
        self.last_message = ""

        self.header = w.HTML()
        self.buttons = {name: w.Button(description=name, layout=w.Layout(width="auto"))
                        for name in ("Plan", "Policy check", "Preview", "Deploy", "Refresh",
                                     "Destroy")}
        self.buttons["Destroy"].button_style = "danger"
        from ..engine import find_pulumi

        #: Whether the Pulumi CLI is there: Deploy is the primary action only then.
        self.engine_found = find_pulumi() is not None
        self.buttons["Deploy"].button_style = "primary" if self.engine_found else ""
        if not self.engine_found:
            self.buttons["Deploy"].tooltip = "needs the Pulumi CLI (envkit install-pulumi)"
        self.confirm_text = w.HTML()
        self.confirm_yes = w.Button(description="Yes, destroy", button_style="danger")
        self.confirm_no = w.Button(description="Keep it")
        self.confirm = w.HBox([self.confirm_text, self.confirm_yes, self.confirm_no],
                              layout=w.Layout(display="none"))
        self.progress = w.IntProgress(value=0, min=0, max=1, description="resources",
                                      bar_style="info")
        self.status = w.HTML()
        self.status.add_class("envkit-status")
        # The panels grow with their content; only the event log, newest line first, scrolls.
        self.log = w.HTML(layout=w.Layout(max_height="320px", overflow="auto"))
        self.plan_panel = w.HTML(_note("Plan shows every resource this environment will have, "
                                       "offline."))
        self.plan_panel.add_class("envkit-plan-panel")
        self.reveal = w.ToggleButton(description="Reveal secrets", value=False,
                                     icon="eye-slash")
        self.outputs_panel = w.HTML(_note("Plan shows the outputs this environment will have; "
                                          "Deploy fills in the values known only after it."))
        self.outputs_panel.add_class("envkit-outputs-panel")
        self.policy_panel = w.HTML(_note("Policy check runs the least-privilege rules, "
                                         "offline."))
        self.inspection_panel = w.HTML(_note("After Deploy, this shows what exists: instance "
                                             "state, SSH command, web address."))
        self.tabs = w.Tab(children=[
            self.log, self.plan_panel, w.VBox([self.reveal, self.outputs_panel]),
            self.policy_panel, self.inspection_panel])
        for i, title in enumerate(("Events", "Plan", "Outputs", "Policy", "Inspection")):
            self.tabs.set_title(i, title)
        self.widget = w.VBox([self.header, w.HBox(list(self.buttons.values())), self.confirm,
                              self.progress, self.status, self.tabs])
        self.widget.add_class("envkit-dashboard")

        handlers: dict[str, Callable[[], None]] = {
            "Plan": self.plan, "Policy check": self.policy, "Preview": self.preview,
            "Deploy": self.deploy, "Refresh": self.refresh, "Destroy": self.ask_destroy}
        for name, handler in handlers.items():
            self.buttons[name].on_click(lambda _b, h=handler: h())
        self.confirm_yes.on_click(lambda _b: self.destroy())
        self.confirm_no.on_click(lambda _b: self._hide_confirm("destroy cancelled"))
        self.reveal.observe(lambda change: self._toggle_secrets(change["new"]), names="value")
        self._render_header()
        self._sync_buttons()
        if self.state_line and self.state != "not deployed":  # e.g. the emulator restarted
            self.say(self.state_line, "warning")

    # -- display --

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _render_header(self) -> None:
        target = self.env.target.kind if self.env is not None and self.env._target else (
            self.target_arg or "local unless AWS credentials are found")
        self.header.value = (
            f"{_STYLE}<div class='envkit'><b>{html.escape(self.spec.name)}</b> "
            f"({html.escape(self.spec.region)}) · target: {html.escape(target)} · "
            f"state: <b class='envkit-state'>{html.escape(self.state)}</b></div>")

    def say(self, message: str, kind: str = "info") -> None:
        """Show a one-line status (info, busy, warning, error, ok) and log it."""
        css = {"error": "bad", "busy": "warn", "warning": "warn"}.get(kind, "")
        self.last_message = message
        self.status.value = f"{_STYLE}<div class='envkit'><span class='{css}'>" \
                            f"{prose_html(message)}</span></div>"
        self._append(f"[{kind}] {message}")

    def _append(self, line: str) -> None:
        with self._lock:
            self._log.append(f"{time.strftime('%H:%M:%S')} {line}")
            del self._log[:-_LOG_LINES]
            body = "<br>".join(prose_html(x) for x in self._log[::-1])
        self.log.value = f"<div style='font-family:monospace;font-size:12px'>{body}</div>"

    def _set_state(self, state: str) -> None:
        self.state = state
        self._render_header()
        self._sync_buttons()

    def _recorded_state(self) -> str:
        """What is true of the environment now (see :mod:`envkit.states`), as the header
        shows it; ``self.state_line`` keeps the sentence with the next step."""
        from ..states import current_state

        state = current_state(self.spec.name)
        self.state_line = "" if state.deployed else for_buttons(state.line())
        return {"deployed": "deployed", "never-deployed": "not deployed",
                "destroyed": "destroyed"}.get(state.kind, "resources gone")

    def _sync_buttons(self) -> None:
        """Destroy (and its confirmation) only while something is deployed."""
        deployed = self.state == "deployed"
        self.buttons["Destroy"].disabled = not deployed
        self.buttons["Destroy"].tooltip = "" if deployed else "nothing is deployed"
        if not deployed:
            self.confirm.layout.display = "none"

    # -- the worker --

    def _start(self, label: str, work: Callable[[], None]) -> bool:
        with self._lock:
            if self.busy is not None:
                refused = self.busy
            else:
                refused = None
                self.busy = label
        if refused is not None:
            self.say(f"busy: {refused} is running; {label} was not started (wait for it to "
                     "finish, then click again)", "busy")
            return False
        self.say(f"{label}...", "busy")
        self._thread = threading.Thread(target=self._work, args=(label, work),
                                        name=f"envkit-{label}", daemon=True)
        self._thread.start()
        return True

    def _work(self, label: str, work: Callable[[], None]) -> None:
        try:
            work()
        except EnvkitError as exc:
            if isinstance(exc, CancelledError):
                self._set_state("cancelled")
            self.say(for_buttons(str(exc)), "error")
        except Exception as exc:  # noqa: BLE001 - a widget must never die on an error
            self.say(f"{label} failed unexpectedly: {exc!r}", "error")
        finally:
            with self._lock:
                self.busy = None
            self._sync_buttons()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running operation (if any) ends (for scripts and tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def on_event(self, event: Event) -> None:
        """Feed one engine event to the progress bar and the log."""
        if isinstance(event, ResourceStarted):
            self._append(f"{event.op:<8} {event.name} ({event.type})")
        elif isinstance(event, ResourceFinished):
            if event.ok:
                self.progress.max = max(self.progress.max, self.progress.value + 1)
                self.progress.value += 1
            self._append(f"{'done' if event.ok else 'FAILED':<8} {event.name}")
        elif isinstance(event, Diagnostic) and event.severity in ("warning", "error"):
            self._append(f"{event.severity}: {event.message}")
        elif isinstance(event, PolicyViolation):
            self._append(f"policy {event.policy} ({event.level}): {event.message}")

    def _environment(self, label: str):
        from ..engine import Environment, find_pulumi
        from ..policy.pack import engine_packs

        if find_pulumi() is None:
            raise PrerequisiteError(NO_ENGINE.format(label=label.capitalize(),
                                                     button=label.capitalize()))
        if self.env is None:
            self.env = Environment(self.spec, target=self.target_arg, profile=self.profile)
        if not self.env.policy_packs:
            self.env.policy_packs = engine_packs(None, True, lambda m: self.say(m, "warning"))
        return self.env

    # -- operations (each returns whether it started) --

    def plan(self) -> bool:
        """Plan offline and check policy (no engine needed)."""
        def work() -> None:
            from ..planner import plan as make_plan
            from ..policy.gate import check_spec

            planned = make_plan(self.spec)
            report = check_spec(self._source, plan=planned)
            self.planned = sum(planned.counts().values())
            self.plan_panel.value = PlanView(planned, None, with_outputs=False)._repr_html_()
            self.policy_panel.value = f"{_STYLE}<div class='envkit'>{policy_html(report)}</div>"
            if self.state != "deployed":
                self.outputs_panel.value = (
                    f"{_STYLE}<div class='envkit'><b>Planned outputs</b> <span class='muted'>"
                    "(values marked (known after up) are filled in by Deploy; secrets stay "
                    f"masked)</span>{outputs_table(planned.outputs)}</div>")
            self.tabs.selected_index = 1
            self.say(f"plan: {self.planned} resources; policy: {len(report.mandatory)} "
                     f"mandatory, {len(report.advisory)} advisory", "ok")
        return self._start("plan", work)

    def policy(self) -> bool:
        """Run the policy pack offline."""
        def work() -> None:
            from ..policy.gate import check_spec

            report = check_spec(self._source)
            self.policy_panel.value = f"{_STYLE}<div class='envkit'>{policy_html(report)}</div>"
            self.tabs.selected_index = 3
            self.say(f"policy: {len(report.mandatory)} mandatory, {len(report.advisory)} "
                     "advisory", "error" if report.mandatory else "ok")
        return self._start("policy check", work)

    def _engine_op(self, label: str, call: Callable[[Any], Any], state: str) -> bool:
        def work() -> None:
            env = self._environment(label)
            self._render_header()
            self.progress.value = 0
            self.progress.max = max(self.planned, 1)
            self.tabs.selected_index = 0
            result = call(env)
            changes = ", ".join(f"{n} {k}" for k, n in result.changes.items() if k != "same")
            self._set_state(state)
            self.say(f"{label} done: {changes or 'no changes'}", "ok")
            if label in ("deploy", "refresh"):
                self._show_outputs()
                self._inspect()
        return self._start(label, work)

    def preview(self) -> bool:
        """Ask the engine what Deploy would change."""
        return self._engine_op("preview", lambda env: env.preview(self.on_event), self.state)

    def deploy(self) -> bool:
        """Create or update the environment (the offline policy gate runs first)."""
        def call(env):
            from ..errors import PolicyViolationError
            from ..policy.gate import check_spec

            report = check_spec(self._source)
            if report.mandatory:
                self.policy_panel.value = \
                    f"{_STYLE}<div class='envkit'>{policy_html(report)}</div>"
                raise PolicyViolationError(
                    f"{plural(len(report.mandatory), 'mandatory policy violation')}: nothing "
                    "was deployed (Policy tab)")
            return env.up(self.on_event)
        return self._engine_op("deploy", call, "deployed")

    def refresh(self) -> bool:
        """Bring state in line with what exists."""
        return self._engine_op("refresh", lambda env: env.refresh(self.on_event), self.state)

    def ask_destroy(self) -> None:
        """Show the destroy confirmation (only while something is deployed)."""
        if self.state != "deployed":
            self.say("nothing is deployed, so there is nothing to destroy")
            return
        self.confirm_text.value = (f"Destroy every resource of <b>{html.escape(self.spec.name)}"
                                   "</b>?")
        self.confirm.layout.display = "flex"

    def _hide_confirm(self, message: str | None = None) -> None:
        self.confirm.layout.display = "none"
        if message:
            self.say(message)

    def destroy(self) -> bool:
        """Destroy the environment (after confirmation)."""
        self._hide_confirm()
        return self._engine_op("destroy", lambda env: env.destroy(self.on_event), "destroyed")

    # -- panels --

    def _show_outputs(self) -> None:
        if self.env is None:
            return
        outputs = self.env.outputs(show_secrets=self._secrets_shown)
        self.outputs_panel.value = (f"{_STYLE}<div class='envkit'><b>Deployed outputs</b>"
                                    f"{outputs_table(outputs)}</div>")

    def _toggle_secrets(self, shown: bool) -> None:
        self._secrets_shown = shown
        self.reveal.icon = "eye" if shown else "eye-slash"
        if self.env is not None and self.state == "deployed":
            try:
                self._show_outputs()
            except EnvkitError as exc:
                self.say(str(exc), "error")

    def _inspect(self) -> None:
        from ..inspect import inspect_environment

        env = self.env
        outputs = env.outputs()
        instances = outputs.get("instances") or {}
        seen = inspect_environment(env.name, env.target)
        rows = "".join(
            f"<tr><td>{html.escape(i.name)}</td><td>{html.escape(i.state)}</td>"
            f"<td><code>{html.escape(str((instances.get(i.name) or {}).get('ssh_command')))}"
            f"</code></td><td>{_link((instances.get(i.name) or {}).get('web_url'))}</td></tr>"
            for i in seen.instances)
        self.inspection_panel.value = (
            f"{_STYLE}<div class='envkit'><table><tr><th>instance</th><th>state</th>"
            f"<th>SSH</th><th>web</th></tr>{rows}</table>"
            f"{''.join(f'<div>{html.escape(n)}</div>' for n in seen.notes)}</div>")


def _link(url: str | None) -> str:
    if not url:
        return "-"
    return f"<a href='{html.escape(url)}' target='_blank'>{html.escape(url)}</a>"


def _note(text: str) -> str:
    """A panel's placeholder: what will appear there, and which button fills it."""
    return f"{_STYLE}<div class='envkit muted'>{prose_html(text)}</div>"
