# fish completion for pjoin (pkit): pkit-complete answers from pjoin's grammar.
function __complete_pjoin
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    command pkit-complete pjoin
end
complete -c pjoin -a "(__complete_pjoin)"
