"""A tmux pane of a fixed size that runs one command, for tests that need a real terminal."""

import shlex
import subprocess
import tempfile
import uuid
from pathlib import Path

from harness import wait_for


class TmuxPane:
    def __init__(self, columns, rows):
        self.name = "tb-" + uuid.uuid4().hex[:12]
        self.dir = Path(tempfile.mkdtemp(prefix="tb-tmux-"))
        self.status_file = self.dir / "status"
        self.columns = columns
        self.rows = rows

    def _start(self, shell_command, env):
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()
                           if k.startswith(("SSH_ASKPASS", "TB_TEST_", "DISPLAY")))
        script = self.dir / "run.sh"
        script.write_text(f"export {exports}\n{shell_command}\necho $? > {self.status_file}\n"
                          "sleep 600\n")
        subprocess.run(["tmux", "-L", self.name, "new-session", "-d", "-s", self.name,
                        "-x", str(self.columns), "-y", str(self.rows), "sh", str(script)],
                       check=True)

    def run(self, argv, output_file, env):
        """Runs argv with stdin on the pane's terminal and stdout into output_file."""
        self._start(shlex.join(argv) + " > " + shlex.quote(str(output_file)), env)

    def run_interactive(self, argv, env):
        """Runs argv with stdin and stdout on the pane's terminal."""
        self._start(shlex.join(argv), env)

    def send(self, line):
        subprocess.run(["tmux", "-L", self.name, "send-keys", "-t", self.name, line, "Enter"],
                       check=True)

    def capture(self):
        return subprocess.run(["tmux", "-L", self.name, "capture-pane", "-p", "-t", self.name],
                              capture_output=True, text=True, check=True).stdout

    def resize(self, columns, rows):
        subprocess.run(["tmux", "-L", self.name, "resize-window", "-t", self.name,
                        "-x", str(columns), "-y", str(rows)], check=True)

    def wait_exit(self, timeout):
        wait_for(lambda: self.status_file.exists() and self.status_file.read_text().strip(),
                 timeout, "the command in tmux to exit")
        return int(self.status_file.read_text().strip())

    def close(self):
        subprocess.run(["tmux", "-L", self.name, "kill-server"], capture_output=True)
