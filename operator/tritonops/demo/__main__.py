import sys

from tritonops.demo.scenario import main

sys.exit(main())
