# fish completion for ppool (pkit): the binary answers via COMP_LINE.
function __complete_ppool
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    command ppool
end
complete -c ppool -a "(__complete_ppool)"
