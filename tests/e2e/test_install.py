"""test_install - `cmake --install` puts everything in its FHS place under the
prefix: spated in sbin, spatectl in bin, the three man pages, the systemd
unit (naming the installed spated and configuration), the sysusers.d and
tmpfiles.d files, the documentation with an example configuration, and the
configuration itself, which a second install leaves alone. With prefix /usr
and DESTDIR, the configuration goes to DESTDIR/etc."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spatetest  # noqa: E402
from spatetest import BUILD, Skip  # noqa: E402

FILES = ["sbin/spated", "bin/spatectl",
         "share/man/man8/spated.8", "share/man/man1/spatectl.1",
         "share/man/man5/spated.conf.5",
         "lib/systemd/system/spated.service",
         "lib/sysusers.d/spate.conf", "lib/tmpfiles.d/spate.conf",
         "share/doc/spate/spated.conf.example", "share/doc/spate/options.md",
         "share/doc/spate/README.md"]


def _install(prefix, destdir=None):
    env = dict(os.environ)
    if destdir:
        env["DESTDIR"] = destdir
    p = subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = p.stdout.decode()
    assert p.returncode == 0, out
    return out


def _unit_lines(path):
    with open(path) as f:
        return [l.strip() for l in f if "=" in l and not l.startswith("#")]


def test_install_prefix():
    if shutil.which("cmake") is None:
        raise Skip("no cmake")
    top = tempfile.mkdtemp(prefix="spate-install-")
    prefix = os.path.join(top, "x")
    _install(prefix)
    for rel in FILES:
        assert os.path.isfile(os.path.join(prefix, rel)), "missing %s" % rel
    for rel in ("sbin/spated", "bin/spatectl"):
        assert os.access(os.path.join(prefix, rel), os.X_OK), rel
    conf = os.path.join(prefix, "etc/spate/spated.conf")
    assert os.path.isfile(conf), "no configuration installed"
    spated = os.path.join(prefix, "sbin/spated")
    out = subprocess.run([spated, "--version"], stdout=subprocess.PIPE, timeout=30).stdout
    assert out.startswith(b"spate version"), out
    # the unit runs the installed binary on the installed configuration
    lines = _unit_lines(os.path.join(prefix, "lib/systemd/system/spated.service"))
    assert "ExecStart=%s -c %s" % (spated, conf) in lines, lines
    for want in ("Type=notify", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "ExecReload=/bin/kill -HUP $MAINPID"):
        assert want in lines, (want, lines)
    assert not [l for l in lines if "@SPATE_" in l], lines
    # the example configuration is valid once its account and spool exist here
    with open(conf) as f:
        text = f.read()
    assert re.search(r"^spate_user = spate$", text, re.M), text
    text = re.sub(r"^spate_user = spate$", "spate_user = nobody", text, flags=re.M)
    text = re.sub(r"^spool_directory = .*$", "spool_directory = %s/spool" % top, text,
                  flags=re.M)
    test_conf = os.path.join(top, "check.conf")
    with open(test_conf, "w") as f:
        f.write(text)
    p = subprocess.run([spated, "-c", test_conf, "--check-config"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    assert p.returncode == 0, p.stdout
    # the man pages format without warnings
    if shutil.which("groff"):
        for rel in FILES[2:5]:
            p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z",
                                os.path.join(prefix, rel)], stderr=subprocess.PIPE,
                               timeout=30, env=dict(os.environ, LC_ALL="C.UTF-8"))
            assert p.returncode == 0 and not p.stderr, (rel, p.stderr)
    # an operator's configuration survives a second install
    with open(conf, "a") as f:
        f.write("# edited by the operator\n")
    out = _install(prefix)
    with open(conf) as f:
        assert f.read().endswith("# edited by the operator\n")
    shutil.rmtree(top)


def test_install_usr_destdir():
    if shutil.which("cmake") is None:
        raise Skip("no cmake")
    dest = tempfile.mkdtemp(prefix="spate-destdir-")
    _install("/usr", destdir=dest)
    for rel in FILES:
        assert os.path.isfile(os.path.join(dest, "usr", rel)), "missing /usr/%s" % rel
    assert os.path.isfile(os.path.join(dest, "etc/spate/spated.conf"))
    assert not os.path.exists(os.path.join(dest, "usr/etc"))
    lines = _unit_lines(os.path.join(dest, "usr/lib/systemd/system/spated.service"))
    assert "ExecStart=/usr/sbin/spated -c /etc/spate/spated.conf" in lines, lines
    shutil.rmtree(dest)


spatetest.main(globals())
