"""The pool's factors are encryptions of zero, each handed out once, computed ahead or on demand."""

from __future__ import annotations

import threading

import pytest

from pysonar.crypto.keys import KeyPair
from pysonar.crypto.obfuscation import ObfuscationPool, fresh_factor


def test_every_factor_is_a_non_trivial_encryption_of_zero(keypair: KeyPair) -> None:
    pool = ObfuscationPool(keypair.public_key)
    pool.fill(3)

    for _ in range(3):
        factor = pool.take()
        assert factor != 1
        assert 0 < factor < keypair.public_key.nsquare
        assert keypair.private_key.raw_decrypt(factor) == 0


def test_fill_computes_only_the_missing_factors(keypair: KeyPair) -> None:
    pool = ObfuscationPool(keypair.public_key)

    assert pool.fill(3) == 3
    assert pool.fill(5) == 2
    assert pool.fill(2) == 0
    assert len(pool) == 5


def test_each_factor_is_handed_out_once(keypair: KeyPair) -> None:
    pool = ObfuscationPool(keypair.public_key)
    pool.fill(20)

    taken = [pool.take() for _ in range(20)]

    assert len(set(taken)) == 20
    assert len(pool) == 0
    assert pool.on_demand == 0


def test_an_empty_pool_computes_a_factor_on_demand_and_counts_it(keypair: KeyPair) -> None:
    pool = ObfuscationPool(keypair.public_key)

    factor = pool.take()
    pool.fill(1)
    pool.take()

    assert keypair.private_key.raw_decrypt(factor) == 0
    assert pool.on_demand == 1


def test_fill_refuses_a_negative_size(keypair: KeyPair) -> None:
    with pytest.raises(ValueError, match="pool size must be >= 0, not -1"):
        ObfuscationPool(keypair.public_key).fill(-1)


def test_concurrent_takers_never_share_a_factor(keypair: KeyPair) -> None:
    pool = ObfuscationPool(keypair.public_key)
    pool.fill(200)
    taken: list[list[int]] = [[] for _ in range(4)]

    def take_many(bucket: list[int]) -> None:
        for _ in range(50):
            bucket.append(pool.take())

    threads = [threading.Thread(target=take_many, args=(bucket,)) for bucket in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything = [factor for bucket in taken for factor in bucket]
    assert len(everything) == len(set(everything)) == 200
    assert pool.on_demand == 0


def test_a_factor_is_r_to_the_n_for_the_injected_random_r(keypair: KeyPair) -> None:
    n, nsquare = keypair.public_key.n, keypair.public_key.nsquare

    factor = fresh_factor(keypair.public_key, random_below=lambda bound: 41)

    assert factor == pow(42, n, nsquare)
