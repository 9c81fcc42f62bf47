"""Cityscapes files, which need a login: through cityscapesscripts' own downloader.

Credentials come from `CITYSCAPES_USERNAME` and `CITYSCAPES_PASSWORD`, else from the
file cityscapesscripts itself stores (`csDownload` offers to), else its own prompt
on a terminal. The project never stores a password.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tfdeeplab.fetch.download import DownloadError
from tfdeeplab.fetch.registry import RemoteFile

LOGIN_URL = "https://www.cityscapes-dataset.com/login"
STAGING = ".cityscapes-download"


class CityscapesLoginError(DownloadError):
    """No credentials, or refused ones; the message says how to give them."""


def cityscapes_session():
    """A logged-in `requests.Session` of www.cityscapes-dataset.com.

    Raises:
        CityscapesLoginError: no credentials anywhere (and no terminal to ask on),
            or the site refused them.
    """
    from cityscapesscripts.download import downloader

    username = os.environ.get("CITYSCAPES_USERNAME")
    password = os.environ.get("CITYSCAPES_PASSWORD")
    if username and password:
        import requests

        session = requests.Session()
        session.get(LOGIN_URL, allow_redirects=False, timeout=60).raise_for_status()
        answer = session.post(
            LOGIN_URL,
            data={"username": username, "password": password, "submit": "Login"},
            allow_redirects=False,
            timeout=60,
        )
        if answer.status_code != 302:  # the site redirects a successful login
            raise CityscapesLoginError(
                "cityscapes: the site refused CITYSCAPES_USERNAME/CITYSCAPES_PASSWORD"
            )
        return session
    if _stored_credentials().is_file() or sys.stdin.isatty():
        return downloader.login()
    raise CityscapesLoginError(
        "cityscapes: needs a login: set CITYSCAPES_USERNAME and CITYSCAPES_PASSWORD, "
        "or run csDownload once on a terminal to store them, or download the files "
        "from www.cityscapes-dataset.com/downloads and give --from FOLDER"
    )


def _stored_credentials() -> Path:
    from cityscapesscripts.download import downloader

    folder = downloader.appdirs.user_data_dir("cityscapesscripts", "cityscapes")
    return Path(folder) / "credentials.json"


def download_package(remote: RemoteFile, folder: Path, session) -> Path:
    """Download one Cityscapes package into a staging folder in `folder` (resumed,
    md5-checked by cityscapesscripts); returns the staged file, for the caller to
    check again and move to its final name.

    Raises:
        DownloadError: the downloader's failure, in one line.
    """
    from cityscapesscripts.download import downloader

    staging = folder / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    staged = staging / remote.name
    try:
        downloader.download_packages(
            session=session,
            package_names=[remote.name],
            destination_path=str(staging),
            resume=staged.is_file(),
        )
    except Exception as error:  # the downloader raises bare Exceptions
        raise DownloadError(
            f"{remote.name}: the cityscapes download failed ({error})"
        ) from None
    return staged
