"""A KMS key's key pair is made when it first signs or shows its public key, not when the key is created."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from moto.kms.models import kms_backends

from tenantml.emulator.session import AwsSession


def test_given_a_symmetric_key_when_it_is_created_and_used_then_no_key_pair_is_made(aws: AwsSession):
    # given / when: a symmetric key, as every tenant stack creates, encrypting and decrypting
    kms = aws.client("kms")
    key_id = kms.create_key(Description="tenant data")["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]

    # then: it works, and moto's RSA pair for it was never generated
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    key = kms_backends[aws.caller_account()][aws.region].keys[key_id]
    assert not hasattr(key.__dict__["_tenantml_private_key"], "sign")


def test_given_an_rsa_signing_key_when_it_signs_then_its_public_key_verifies_the_signature(aws: AwsSession):
    # given: an asymmetric signing key, its pair not made yet
    kms = aws.client("kms")
    key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]

    # when: it signs, and its public key is read afterwards
    signature = kms.sign(
        KeyId=key_id, Message=b"model v3", MessageType="RAW", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256"
    )["Signature"]
    public_der = kms.get_public_key(KeyId=key_id)["PublicKey"]

    # then: the same pair served both (a pair made twice would not verify), and KMS agrees
    public_key = serialization.load_der_public_key(public_der)
    assert public_key.key_size == 2048
    public_key.verify(
        signature,
        b"model v3",
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    assert kms.verify(
        KeyId=key_id,
        Message=b"model v3",
        MessageType="RAW",
        Signature=signature,
        SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256",
    )["SignatureValid"]
