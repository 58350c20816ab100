"""The harness that runs the documentation's samples (docs/conftest.py) fails a page for
each way a sample can be wrong or left unrun, and passes the forms it documents."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"

GOOD = '''# Good

```python title="hi.py"
print("hi")
```

```text
hi
```

```sh
python hi.py && echo there
```

```text
hi
...
```

<!-- fragment: of hi.py -->
```python
print("hi")
```

<!-- skip: next "C is not run here" -->
```c
int main(void) { return 0; }
```

```yaml title="conf.yaml"
a: 1
```

<!-- invisible-code-block: python
import yaml
assert yaml.safe_load(open("conf.yaml")) == {"a": 1}
-->
'''

BAD = {
    "wrong_output.md": "```python\nprint(1)\n```\n\n```text\n2\n```\n",
    "failing_command.md": "```sh\nfalse\necho never\n```\n",
    "unknown_language.md": "```c\nint x;\n```\n",
    "fragment_not_in_file.md": (
        '```python title="a.py"\nx = 1\n```\n\n<!-- fragment: of a.py -->\n'
        "```python\nx = 2\n```\n"
    ),
    "bad_yaml.md": "```yaml\na: [1\n```\n",
    "failing_hidden_check.md": "<!-- invisible-code-block: python\nassert 1 == 2\n-->\n",
    "output_without_sample.md": "```text\nhello\n```\n",
}


def run_pages(tmp_path: Path, pages: dict[str, str]) -> str:
    shutil.copy(DOCS / "conftest.py", tmp_path / "conftest.py")
    for name, text in pages.items():
        (tmp_path / name).write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfs", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path)],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    return proc.stdout + proc.stderr


def test_the_documented_forms_pass(tmp_path: Path) -> None:
    out = run_pages(tmp_path, {"good.md": GOOD})
    assert re.search(r"\b8 passed, 1 skipped\b", out), out
    assert "C is not run here" in out


def test_each_kind_of_wrong_sample_fails(tmp_path: Path) -> None:
    out = run_pages(tmp_path, BAD)
    failed = set(re.findall(r"^FAILED (\w+)\.md", out, re.M))
    assert failed == {name[:-3] for name in BAD}, out
    assert "no way to run a ```c sample" in out


def test_a_skip_needs_a_reason(tmp_path: Path) -> None:
    out = run_pages(tmp_path, {"noreason.md": "<!-- skip: next -->\n```c\nint x;\n```\n"})
    assert "'skip: next' needs a reason" in out, out
