"""Built-in configs and workloads, shipped as package data.

In the source tree they live in the top-level ``configs/`` and ``workloads/``
folders; setup.cfg maps those folders to ``accelsim.builtin.configs`` and
``accelsim.builtin.workloads`` so that an installed accelsim finds them from
any working directory.
"""
