from govkit.service import main
from livelihood.app import SPEC

if __name__ == "__main__":
    main(SPEC)
