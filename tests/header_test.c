/* The public header must compile on its own, as the first and only include. */
#include "segcl/segcl.h"

int main(void)
{
    return segcl_version()[0] ? 0 : 1;
}
