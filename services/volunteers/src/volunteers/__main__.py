from govkit.service import main
from volunteers.app import SPEC

if __name__ == "__main__":
    main(SPEC)
