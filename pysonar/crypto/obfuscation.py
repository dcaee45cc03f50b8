"""Re-randomising factors r**n mod n**2, precomputed between rounds and each used once.

Paillier ciphertexts that result from arithmetic are deterministic functions of their
inputs until multiplied by r**n for a fresh random r (phe's `obfuscate`). That modular
exponentiation by the full n (about 9-17 ms at 2048 bits) costs more than the whole
sufficient-statistics gradient, but it does not depend on the data: a mine can compute the
factors while idle and spend them when a model arrives. A factor must never be used twice
(two ciphertexts sharing one would reveal the difference of their plaintexts), so the pool
hands each out once and forgets it.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from collections.abc import Callable

import gmpy2
from phe.paillier import PaillierPublicKey


def fresh_factor(
    public_key: PaillierPublicKey, *, random_below: Callable[[int], int] = secrets.randbelow
) -> int:
    """Return r**n mod n**2 for a fresh uniformly random r in [1, n).

    The result is itself an encryption of 0, so multiplying a ciphertext by it changes the
    ciphertext and not the plaintext.
    """
    n = public_key.n
    r = random_below(n - 1) + 1
    return int(gmpy2.powmod(r, n, public_key.nsquare))


class ObfuscationPool:
    """A thread-safe supply of single-use re-randomising factors for one public key.

    `fill` is meant for idle time (a background thread, between rounds); `take` for the
    critical path. When the pool runs dry `take` computes a fresh factor on the spot, so
    correctness never depends on the pool being full; `on_demand` counts those misses.
    """

    def __init__(
        self,
        public_key: PaillierPublicKey,
        *,
        random_below: Callable[[int], int] = secrets.randbelow,
    ) -> None:
        """Create an empty pool for `public_key`.

        Parameters:
            public_key: the key whose ciphertexts the factors will re-randomise.
            random_below: the random source, `secrets.randbelow` unless testing.
        """
        self._public_key = public_key
        self._random_below = random_below
        self._factors: deque[int] = deque()
        self._lock = threading.Lock()
        self._on_demand = 0

    @property
    def public_key(self) -> PaillierPublicKey:
        """The key the factors belong to."""
        return self._public_key

    @property
    def on_demand(self) -> int:
        """How many factors `take` had to compute because the pool was empty."""
        return self._on_demand

    def __len__(self) -> int:
        return len(self._factors)

    def fill(self, size: int) -> int:
        """Compute factors until at least `size` are ready.

        Parameters:
            size: the number of ready factors wanted.

        Returns:
            How many factors were computed.

        Raises:
            ValueError: `size` is negative.
        """
        if size < 0:
            raise ValueError(f"pool size must be >= 0, not {size}")
        computed = 0
        # Compute outside the lock so that `take` is never blocked behind an exponentiation.
        while len(self._factors) < size:
            factor = fresh_factor(self._public_key, random_below=self._random_below)
            with self._lock:
                self._factors.append(factor)
            computed += 1
        return computed

    def take(self) -> int:
        """Remove one factor from the pool and return it, computing one if the pool is empty."""
        with self._lock:
            if self._factors:
                return self._factors.popleft()
            self._on_demand += 1
        return fresh_factor(self._public_key, random_below=self._random_below)
