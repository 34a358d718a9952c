"""Files of remote log directories (`s3://`, `gs://`, ...): the only code
that touches them.

A path with a scheme goes through TensorBoard's TensorFlow-free file layer,
`tensorboard.compat.tensorflow_stub.io.gfile`, the one `tensorboard --logdir
s3://...` reads with where TensorFlow is not installed, so the writer and the
server reach a store the same way: `s3://` with boto3, at the endpoint in the
environment variable `S3_ENDPOINT` (read once, when that layer is first
imported; AWS's own when unset) and boto3's usual credentials; any other
scheme with its fsspec implementation (`gs://`: gcsfs).

Object stores have no append and no rename: writers upload whole objects with
`write`, one request that the store applies atomically (S3, GCS and Azure Blob
do; other fsspec file systems may not). Every function raises `OSError` whose
`filename` is the path: boto3, fsspec and the layer raise exceptions of their
own, translated here. Local paths never come here; their callers keep plain
`os` calls.
"""

import errno
import os
import posixpath
import threading

_SCHEME_SEPARATOR = "://"
_FILE_URL = "file://"
_lock = threading.Lock()
_gfile = None
_warmed_up = False


def is_remote(path):
    """Whether `path` (str or path-like) names a remote file: it has a scheme."""
    return _SCHEME_SEPARATOR in os.fspath(path)


def file_url_path(path):
    """The local path a `file://` URL names (`file:///abs/path`, or
    `file://localhost/abs/path`: `/abs/path`, as TensorFlow's file system and
    fsspec's take it, no percent-decoding); any other path as given.

    Raises:
      ValueError: a `file://` URL of another host, or of no absolute path.
    """
    path = os.fspath(path)
    if path[:len(_FILE_URL)].lower() != _FILE_URL:
        return path
    host, slash, rest = path[len(_FILE_URL):].partition("/")
    if host.lower() not in ("", "localhost") or not slash:
        raise ValueError(
            "%r: a file:// URL names an absolute local path, as in file:///abs/path "
            "(or file://localhost/abs/path); for another host's files, mount them and "
            "pass the local path" % path
        )
    return "/" + rest


def log_dir_path(path):
    """A log dir (str or path-like) as the writers take it.

    A `file://` URL is the local path it names (`file:///abs/path`, or
    `file://localhost/abs/path`), written with plain `os` calls. A remote
    path is kept as given, without trailing slashes; it must not hold `.` or
    `..` segments or repeated slashes: a store takes them literally (a key
    `logs/../run`), while TensorBoard names runs by `os.path.relpath`, which
    resolves them, so a run's name would not lead to its files.

    Raises:
      ValueError: such a remote path (the message names the path meant), or
        a `file://` URL of another host or of no absolute path.
    """
    try:
        path = file_url_path(path)
    except ValueError as e:
        raise ValueError("log_dir %s" % e) from None
    if not is_remote(path):
        return path
    head, _, rest = path.rpartition(_SCHEME_SEPARATOR)
    inner = rest.lstrip("/").rstrip("/")  # scheme:///path is a form of its own; a trailing "/" is no segment
    if any(segment in ("", ".", "..") for segment in inner.split("/")) and inner:
        meant = head + _SCHEME_SEPARATOR + rest[:len(rest) - len(rest.lstrip("/"))] + (
            posixpath.normpath("/" + inner).lstrip("/"))
        raise ValueError(
            "log_dir %r has '.' or '..' segments or repeated slashes: the store would "
            "take them literally (objects under %r), while TensorBoard names runs with "
            "them resolved, so the Activations tab would not find the run's pixels. "
            "Pass the path meant: %r" % (path, inner, meant)
        )
    return path.rstrip("/") if inner else path


def join(path, *names):
    """`path` and `names` joined with "/" (object stores' separator)."""
    return "/".join([path.rstrip("/")] + [name.strip("/") for name in names])


def check_reachable(path):
    """Checks that an installed package can reach `path`'s store.

    Raises:
      ValueError: nothing installed handles the scheme; the message says what
        to install.
    """
    _filesystem(path)


def write(path, data):
    """Uploads `data` (bytes-like) as the whole object `path`, in one request.

    Raises:
      OSError: the upload failed (the object is as it was, or, if the error
        came after the store took it, holds `data`).
    """
    data = bytes(data)
    _call(path, lambda fs: fs.write(path, data, binary_mode=True))


def read_range(path, offset, length):
    """Up to `length` bytes of `path` from `offset` (one ranged GET on S3).

    Raises:
      FileNotFoundError: `path` does not exist.
      OSError: it cannot be read.
    """
    if length <= 0:
        return b""
    # S3 and fsspec files of the layer take different continuation tokens;
    # each reads its own key. S3's asks for one byte more (an inclusive
    # HTTP range of `size + 1`), hence the slice.
    token = {"byte_offset": offset, "opaque_offset": offset}
    data, _ = _call(path, lambda fs: fs.read(path, True, length, token))
    return bytes(data[:length])


def size(path):
    """The size of `path` in bytes.

    Raises:
      FileNotFoundError: `path` does not exist.
      OSError: its size cannot be read.
    """
    return _call(path, lambda fs: fs.stat(path)).length


def isdir(path):
    """Whether `path` is a directory (on S3: a prefix holding objects)."""
    return bool(_call(path, lambda fs: fs.isdir(path)))


def remove(path):
    """Deletes the object `path` (the layer has no delete: boto3's
    `delete_object` on S3, fsspec's `rm` elsewhere).

    Raises:
      OSError: it could not be deleted.
    """

    def delete(fs):
        gfile = _layer()
        if isinstance(fs, gfile.S3FileSystem):
            import boto3

            bucket, key = fs.bucket_and_path(path)
            boto3.client("s3", endpoint_url=_s3_endpoint(fs)).delete_object(Bucket=bucket, Key=key)
        else:
            import fsspec

            store, key = fsspec.core.url_to_fs(path)
            store.rm(key)

    _call(path, delete)


def _layer():
    global _gfile
    if _gfile is None:
        # Imports boto3 and fsspec where installed: only once a remote path is used.
        from tensorboard.compat.tensorflow_stub.io import gfile

        _gfile = gfile
    return _gfile


def _filesystem(path):
    gfile = _layer()
    try:
        fs = gfile.get_filesystem(path)
    except (ValueError, ImportError) as e:
        raise ValueError("%s: %s" % (_install_hint(path), e)) from None
    if isinstance(fs, gfile.S3FileSystem):
        _warm_up_boto3(fs)
    return fs


def _install_hint(path):
    scheme = os.fspath(path).partition(_SCHEME_SEPARATOR)[0]
    if scheme == "s3":
        return "no file system for %r: s3:// paths need boto3 (pip install boto3)" % path
    return (
        "no file system for %r: %s:// paths need fsspec and its implementation of "
        "%r (gcsfs for gs://): pip install fsspec and that package" % (path, scheme, scheme)
    )


def _warm_up_boto3(fs):
    """Creates one client and one resource of boto3's default session, once.

    The layer makes a client or resource per call from that session, whose
    parts are built on first use without a lock; the plugin reads from
    several threads at once.
    """
    global _warmed_up
    if _warmed_up:
        return
    with _lock:
        if not _warmed_up:
            import boto3

            try:
                boto3.client("s3", endpoint_url=_s3_endpoint(fs))
                boto3.resource("s3", endpoint_url=_s3_endpoint(fs))
            except Exception:  # noqa: BLE001 - the call that follows reports it, naming the path
                return
            _warmed_up = True


def _s3_endpoint(fs):
    """The endpoint the layer's S3 file system uses (read at its import)."""
    return getattr(fs, "_s3_endpoint", os.environ.get("S3_ENDPOINT"))


def _call(path, operation):
    """`operation(file system of path)`, its errors as OSError naming `path`."""
    try:
        fs = _filesystem(path)
    except ValueError as e:
        raise OSError(errno.ENOTSUP, str(e), path) from None
    try:
        return operation(fs)
    # boto3 (~100 exception types), fsspec's implementations and the layer
    # raise types of their own: each is an error of this path.
    except Exception as e:  # noqa: BLE001
        raise OSError(_errno_of(e), _describe(e), path) from e


_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "NotFound", "404"}
_DENIED = {"AccessDenied", "Forbidden", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"}


def _errno_of(error):
    if isinstance(error, OSError) and error.errno:
        return error.errno
    code = getattr(error, "response", None)
    code = code.get("Error", {}).get("Code") if isinstance(code, dict) else None
    name = type(error).__name__
    if code in _NOT_FOUND or name == "NotFoundError":
        return errno.ENOENT
    if code in _DENIED or name in ("PermissionDeniedError", "UnauthenticatedError"):
        return errno.EACCES
    return errno.EIO


def _describe(error):
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = getattr(error, "message", None) or str(error)
    return "%s: %s" % (type(error).__name__, text) if text else type(error).__name__
