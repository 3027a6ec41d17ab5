"""`python -m captcha_cli` runs the CLI."""

from captcha_cli.cli.app import main

main()
