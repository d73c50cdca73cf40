# Starts one local Synapse for trafficlight. Written beside its config by the server and
# run with the configured Python: `python launcher.py DIR`.
#
# Before Synapse starts it makes, once, what Synapse will not make itself: the signing key
# and a self-signed certificate for the federation listener (servers of one case federate
# over loopback, without verifying certificates). Then it asks the kernel to end this
# process when the trafficlight thread that started it goes away, and runs Synapse in this
# same process.
import ctypes
import datetime
import os
import runpy
import signal
import sys

directory = sys.argv[1]
config = os.path.join(directory, "homeserver.yaml")
signing_key = os.path.join(directory, "signing.key")
cert = os.path.join(directory, "tls.crt")
key = os.path.join(directory, "tls.key")

if sys.platform.startswith("linux"):
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

if not os.path.exists(signing_key):
    from signedjson.key import generate_signing_key, write_signing_keys

    with open(signing_key, "w") as f:
        write_signing_keys(f, [generate_signing_key("a_tl")])

if not os.path.exists(cert):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(private, hashes.SHA256())
    )
    with open(key, "wb") as f:
        f.write(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    with open(cert, "wb") as f:
        f.write(certificate.public_bytes(serialization.Encoding.PEM))

sys.argv = ["synapse.app.homeserver", "--config-path", config]
runpy.run_module("synapse.app.homeserver", run_name="__main__")
