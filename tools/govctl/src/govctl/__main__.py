from govctl.cli import main

main()
