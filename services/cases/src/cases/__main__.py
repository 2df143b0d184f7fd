from cases.app import SPEC
from govkit.service import main

if __name__ == "__main__":
    main(SPEC)
