"""The parts of the Colab check; ``tools/colab_check.py`` is its command line.

- ``common``: the repository root, ``CheckError``, ``say`` and ``run_command``;
- ``wheel``: copy the repository's files, build the wheel, check its package data;
- ``environment``: requirements.txt's pins, the fresh venv, the kernelspec, the
  kernel's environment variables;
- ``network``: the network namespace, its loopback, and the checks that it is cut off;
- ``run``: run each notebook alone on a kernel of the fresh venv, with its probes.

Each imports only ``common`` and the steps before it, never the command line.
"""
