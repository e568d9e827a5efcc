from dalil.cli.main import main

main()
