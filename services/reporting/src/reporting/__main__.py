from govkit.service import main
from reporting.app import SPEC

if __name__ == "__main__":
    main(SPEC)
