# fish completion for ppool (pkit): pkit-complete answers from ppool's grammar.
function __complete_ppool
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    command pkit-complete ppool
end
complete -c ppool -a "(__complete_ppool)"
