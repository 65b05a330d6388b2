# fish completion for pshm (pkit): pkit-complete answers from pshm's grammar.
function __complete_pshm
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    command pkit-complete pshm
end
complete -c pshm -a "(__complete_pshm)"
