from govkit.service import main

from cases.app import SPEC

if __name__ == "__main__":
    main(SPEC)
