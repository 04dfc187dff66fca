# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The parts the test worlds are built from; each world (``it_world``, ``fed_world``, ``srv_world``,
``rb_world``, ``bench_world``, ``pf_world``) is a composition of them plus its scenarios.

* :mod:`support.net`: one loopback ``127.0.N.0/24`` per world, from disjoint bands (below);
* :mod:`support.peers`: programmable TLS/HTTP peers (routes of handlers, a certificate per SNI,
  keep-alive, stalls, drips, endless bodies, lying lengths);
* :mod:`support.nameserver`: zones (records, plus misbehaviours per name), their zone file for
  knot (tests/lab/knot.py), and a Python nameserver (UDP and TCP) that serves them;
* :mod:`support.matrix`: the Matrix endpoints the worlds serve, and the Ed25519 key signer
  (``/_matrix/key/v2/server`` documents, independent of the collection's ``_signing`` module);
* :mod:`support.playbook`: real ``ansible-playbook`` runs whose registered results come back.

pytest finds this package through ``pythonpath`` in the repository's ``pytest.ini`` (``tests``
and ``tests/lab``); ``make bench`` sets ``PYTHONPATH`` the same way.

The network plan. Nothing binds a wildcard address; every server binds addresses of its world's
``/24`` only. Each world takes the first ``/24`` of its band that no other run holds (a lock file
per ``/24``, held until the process ends) and whose addresses are free, or the one named by its
environment variable:

============  ===================  ==========================  ======================================
world         band (``127.0.N``)   environment variable        suites
============  ===================  ==========================  ======================================
the lab       ``127.0.0`` (fixed)  --                          ``make lab-up``, demo, molecule
``it``        ``N`` = 1 … 20       ``MATRIXOPS_IT_NET``        tests/integration (lookup, lab)
``fed``       ``N`` = 40 … 59      ``MATRIXOPS_FED_NET``       tests/integration/federation
``srv``       ``N`` = 60 … 69      ``MATRIXOPS_SRV_NET``       tests/integration/srv_records
``rb``        ``N`` = 70 … 79      ``MATRIXOPS_RB_NET``        tests/robustness
``bench``     ``N`` = 90 … 99      ``MATRIXOPS_BENCH_NET``     benchmarks (``make bench``)
``acme``      ``N`` = 100 … 109    ``MATRIXOPS_ACME_NET``      tests/integration/test_certbot_certificate.py
``profiles``  ``N`` = 110 … 119    ``MATRIXOPS_PROFILES_NET``  tests/integration/profiles
``migrate``   ``N`` = 120 … 129    ``MATRIXOPS_MIGRATE_NET``   tests/integration/migrate
============  ===================  ==========================  ======================================

The bands never overlap (``support.net`` checks that on import), so two worlds never meet, and
two runs of one suite (two ansible-core versions, two developers) get two ``/24`` of its band.
"""
