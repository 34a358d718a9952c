"""`python -m tb_actviz.export ...`: the `tb-actviz` command."""

from tb_actviz.export.cli import main

if __name__ == "__main__":
    main()
