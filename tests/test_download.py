"""`faceeval data download 300w` against a local HTTP server serving small fake archives."""
import io
import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from faceeval.cli import main
from faceeval.datasets import load_300w
from faceeval.download import (ARCHIVE_DIR, ResumableDownloader, download_300w, load_manifest, verify_zip)
from faceeval.io import DataError
from conftest import build_fake_300w

#: archive -> (folders of the fake tree it holds, the top folder its zip uses: varied on purpose)
LAYOUT = {
    "afw": (["afw"], "afw"),
    "helen": (["helen/trainset", "helen/testset"], ""),                 # no top folder
    "ibug": (["ibug"], "ibug_release/ibug"),                            # nested deeper
    "lfpw": (["lfpw/trainset", "lfpw/testset"], "LFPW"),                # renamed top folder
    "300w": (["300W/01_Indoor", "300W/02_Outdoor"], "300W"),
}


@pytest.fixture(autouse=True)
def _no_base_url_override(monkeypatch):
    monkeypatch.delenv("FACEEVAL_300W_URL", raising=False)


def _zip_folders(root, folders, top):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("__MACOSX/._junk", b"resource fork")
        for folder in folders:
            base = folder.split("/", 1)[1] if "/" in folder else ""
            for path in sorted((root / folder).iterdir()):
                name = "/".join(p for p in (top, base, path.name) if p)
                zf.write(path, name)
    return buf.getvalue()


@pytest.fixture(scope="module")
def fake_archives(tmp_path_factory):
    """The fake 300W tree and its archives as served by ibug: file name -> bytes."""
    tree = build_fake_300w(tmp_path_factory.mktemp("src"),
                           {"afw": 2, "helen/trainset": 1, "helen/testset": 2, "ibug": 2,
                            "lfpw/trainset": 1, "lfpw/testset": 1, "300W/01_Indoor": 2, "300W/02_Outdoor": 1},
                           ibug_extras=1)
    files = {}
    for name, (folders, top) in LAYOUT.items():
        data = _zip_folders(tree.root, folders, top)
        if name == "300w":                   # served as four split parts, like ibug does
            cuts = np.linspace(0, len(data), 5).astype(int)
            for k in range(4):
                files[f"300w.zip.{k + 1:03d}"] = data[cuts[k]:cuts[k + 1]]
        else:
            files[f"{name}.zip"] = data
    return tree, files


def test_manifest_lists_the_official_archives():
    base, archives = load_manifest()
    assert base == "https://ibug.doc.ic.ac.uk/download/annotations/"
    assert [a.name for a in archives] == ["afw", "helen", "ibug", "lfpw", "300w"]
    assert [f.file for f in archives[-1].files] == [f"300w.zip.00{k}" for k in range(1, 5)]
    assert archives[-1].zip_name == "300w.zip" and archives[0].zip_name == "afw.zip"


def test_full_download_unpacks_into_the_ibug_layout(fake_archives, file_server, tmp_path):
    tree, files = fake_archives
    file_server.files.update({f"annotations/{k}": v for k, v in files.items()})
    dest = tmp_path / "300w"
    filled = download_300w(dest, base_url=file_server.url + "/annotations", progress=False)
    assert [p.name for p in filled] == ["afw", "helen", "ibug", "lfpw", "300W"]
    for subset in ("train", "common", "challenging", "full", "private"):
        ds = load_300w(dest, subset)
        assert sorted(ds.ids) == sorted(load_300w(tree.root, subset).ids)
    for sid, shape in tree.shapes.items():
        assert (dest / f"{sid}.pts").read_bytes() == (tree.root / f"{sid}.pts").read_bytes()
    assert not (dest / "__MACOSX").exists() and not list(dest.glob(".unpack-*"))
    assert sorted(p.name for p in (dest / ARCHIVE_DIR).iterdir()) == sorted([*files, "300w.zip"])
    # a second run fetches nothing: the archives are kept
    n_requests = len(file_server.requests)
    download_300w(dest, base_url=file_server.url + "/annotations", progress=False)
    assert len(file_server.requests) == n_requests


def test_resume_after_an_interrupted_download(fake_archives, file_server, tmp_path):
    _, files = fake_archives
    file_server.files.update(files)
    size = len(files["ibug.zip"])
    file_server.cut["ibug.zip"] = size // 3                 # the connection drops after a third
    with pytest.raises(DataError, match=rf"ibug\.zip: download .* {size // 3} of {size} bytes.*run the command again"):
        download_300w(tmp_path, base_url=file_server.url, only=["ibug"], progress=False)
    partial = tmp_path / ARCHIVE_DIR / "ibug.zip.part"
    assert partial.stat().st_size == size // 3
    assert not (tmp_path / "ibug").exists()
    download_300w(tmp_path, base_url=file_server.url, only=["ibug"], progress=False)
    assert file_server.requests[-1] == ("ibug.zip", f"bytes={size // 3}-")
    assert (tmp_path / ARCHIVE_DIR / "ibug.zip").read_bytes() == files["ibug.zip"]
    assert not partial.exists() and len(load_300w(tmp_path, "challenging")) == 2


def test_a_server_without_range_support_restarts_the_file(fake_archives, file_server, tmp_path):
    _, files = fake_archives
    file_server.files.update(files)
    file_server.honour_range = False
    (tmp_path / ARCHIVE_DIR).mkdir()
    (tmp_path / ARCHIVE_DIR / "afw.zip.part").write_bytes(files["afw.zip"][:100])
    download_300w(tmp_path, base_url=file_server.url, only=["afw"], progress=False)
    assert (tmp_path / ARCHIVE_DIR / "afw.zip").read_bytes() == files["afw.zip"]


def test_corrupted_zip_is_a_clear_error_naming_the_archive(fake_archives, file_server, tmp_path):
    _, files = fake_archives
    data = bytearray(files["lfpw.zip"])
    first = zipfile.ZipFile(io.BytesIO(files["lfpw.zip"])).infolist()[0]
    start = first.header_offset + 30 + len(first.filename.encode()) + len(first.extra)
    data[start:start + first.compress_size] = bytes(first.compress_size)   # the first member's bytes
    file_server.files["lfpw.zip"] = bytes(data)
    with pytest.raises(DataError, match=r"lfpw\.zip: corrupt zip archive .*run the command again"):
        download_300w(tmp_path, base_url=file_server.url, only=["lfpw"], progress=False)
    assert not (tmp_path / "lfpw").exists() and not (tmp_path / ARCHIVE_DIR / "lfpw.zip").exists()
    file_server.files["lfpw.zip"] = b"<html>not a zip at all</html>"
    with pytest.raises(DataError, match=r"lfpw\.zip: corrupt zip archive \(File is not a zip file\)"):
        download_300w(tmp_path, base_url=file_server.url, only=["lfpw"], progress=False)


def test_corrupted_split_archive_names_the_joined_zip(fake_archives, file_server, tmp_path):
    _, files = fake_archives
    file_server.files.update(files)
    file_server.files["300w.zip.004"] = files["300w.zip.004"][:-40]       # truncated last part
    with pytest.raises(DataError, match=r"300w\.zip: corrupt zip archive"):
        download_300w(tmp_path, base_url=file_server.url, only=["300w"], progress=False)
    assert not list((tmp_path / ARCHIVE_DIR).glob("300w.zip*"))


def test_size_mismatch_against_the_manifest(fake_archives, file_server, tmp_path):
    _, files = fake_archives
    file_server.files.update(files)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"base_url": file_server.url, "archives": [
        {"name": "afw", "dest": "afw", "files": [{"file": "afw.zip", "size": len(files["afw.zip"]) + 7}]}]}))
    with pytest.raises(DataError, match=rf"afw\.zip: size mismatch: the server offers {len(files['afw.zip'])} "
                                        rf"bytes but the manifest expects {len(files['afw.zip']) + 7}"):
        download_300w(tmp_path / "root", manifest=manifest, progress=False)
    assert not (tmp_path / "root" / "afw").exists()


def test_sha256_mismatch_and_missing_file(fake_archives, file_server, tmp_path):
    _, files = fake_archives
    file_server.files.update(files)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"base_url": file_server.url, "archives": [
        {"name": "afw", "dest": "afw", "files": [{"file": "afw.zip", "sha256": "0" * 64}]},
        {"name": "gone", "dest": "gone", "files": [{"file": "gone.zip"}]}]}))
    with pytest.raises(DataError, match=r"afw\.zip: .*SHA256 hash of downloaded file"):
        download_300w(tmp_path / "root", manifest=manifest, only=["afw"], progress=False)
    with pytest.raises(DataError, match=r"gone\.zip: .*/gone\.zip answered 404"):
        download_300w(tmp_path / "root", manifest=manifest, only=["gone"], progress=False)
    with pytest.raises(DataError, match=r"unknown 300-W archive\(s\) \['nope'\]"):
        download_300w(tmp_path / "root", manifest=manifest, only=["nope"], progress=False)


def test_unreachable_server_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as s:                               # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError, match=rf"afw\.zip: cannot reach http://127\.0\.0\.1:{port}/afw\.zip"):
        download_300w(tmp_path, base_url=f"http://127.0.0.1:{port}", only=["afw"], progress=False)


def test_archive_without_the_expected_folders(file_server, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "no faces here")
    file_server.files["helen.zip"] = buf.getvalue()
    with pytest.raises(DataError, match=r"helen\.zip: does not contain a folder with trainset/, testset/"):
        download_300w(tmp_path, base_url=file_server.url, only=["helen"], progress=False)


def test_downloader_finishes_a_complete_partial_file(file_server, tmp_path):
    file_server.files["x.zip"] = b"0123456789"
    partial = tmp_path / "x.zip.part"
    partial.write_bytes(b"0123456789")                      # server answers 416: nothing left
    out = tmp_path / "out"
    ResumableDownloader(partial, 10, progress=False)(file_server.url + "/x.zip", out)
    assert out.read_bytes() == b"0123456789" and not partial.exists()


def test_verify_zip_accepts_a_good_archive(tmp_path, fake_archives):
    _, files = fake_archives
    (tmp_path / "afw.zip").write_bytes(files["afw.zip"])
    verify_zip(tmp_path / "afw.zip")


def test_cli_download_then_check(fake_archives, file_server, tmp_path, monkeypatch):
    _, files = fake_archives
    file_server.files.update(files)
    monkeypatch.setenv("FACEEVAL_300W_URL", file_server.url)
    result = CliRunner().invoke(main, ["data", "download", "300w", "--to", str(tmp_path / "d"), "--only", "ibug",
                                       "--only", "afw", "--no-progress", "--remove-archives"])
    assert result.exit_code == 0, result.output
    assert f"unpacked {tmp_path / 'd' / 'afw'}" in result.output
    lines = {line.split()[0]: line.split()[1:] for line in result.output.splitlines() if line.strip()}
    assert lines["ibug"] == ["135", "2", "133", "short"] and lines["afw"] == ["337", "2", "335", "short"]
    assert lines["helen/testset"] == ["330", "0", "missing", "folder"]
    assert list((tmp_path / "d" / ARCHIVE_DIR).iterdir()) == []
    file_server.files["ibug.zip"] = b"garbage"
    bad = CliRunner().invoke(main, ["data", "download", "300w", "--to", str(tmp_path / "e"), "--only", "ibug",
                                    "--no-progress"])
    assert bad.exit_code == 1 and "Traceback" not in bad.output
    assert "Error: ibug.zip: corrupt zip archive" in bad.output
